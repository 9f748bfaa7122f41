"""The ROS package `vlm_grasp` (ament_python): installs the Python package `vlm_grasp_ros`,
its console scripts, and launch/ and config/ under share/vlm_grasp/."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "vlm_grasp"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Ranked planar robot grasps from camera images with modern vision models, for ROS 2.",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["vlm_grasp_ros", "vlm_grasp_ros.*"]),
    package_data={"vlm_grasp_ros": ["models/**/*.json", "models/**/*.safetensors"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    entry_points={
        "console_scripts": ["vlm-grasp = vlm_grasp_ros.cli.main:main", "grasp_node = vlm_grasp_ros.ros.grasp_node:main"]
    },
)
