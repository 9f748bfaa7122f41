"""rosbag2 files (.mcap or .db3) through `rosbags`: the typestore with our messages, writing
dataset bags and reading recorded ones. No rclpy: bags are plain files."""
