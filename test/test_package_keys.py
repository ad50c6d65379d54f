"""Every dependency key in package.xml resolves with rosdep, and every third-party import of the
package is declared there (or, where no rosdep key exists, in requirements.txt).

rosdep's database cannot be fetched here (no network), so the keys are checked against a list
copied from it, with the source of each:

* rosdep keys: ros/rosdistro `rosdep/python.yaml` and `rosdep/base.yaml` at commit
  000730dc5f916eb05b15d3f183bd1c17bf1b4722 (`python3` is a base.yaml key, the others
  python.yaml keys). Keys looked up there and *absent*: `python3-onnx` (no key under any
  spelling), `python3-onnxruntime` (the key is `python3-onnxruntime-pip`), `python3-torch`
  (only `python3-pytorch-pip`, an EOL migration alias), `python3-rosbags-pip`,
  `python3-onnxscript-pip`, `python3-tensorboard`.
* ROS packages (rosdep resolves them from the distribution file): ros/rosdistro
  `kilted/distribution.yaml` releases ament_cmake, rosidl_default_generators,
  rosidl_default_runtime, rclpy, rcl_interfaces, std_msgs, sensor_msgs, geometry_msgs,
  diagnostic_msgs, tf2_msgs, launch, launch_ros, rviz2, rmw_fastrtps_cpp, ament_index_python.

On a ROS 2 machine `rosdep check --from-paths . --ignore-src` is the full check.
"""

from __future__ import annotations

import ast
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROSDEP_KEYS = {  # key -> file of ros/rosdistro it is defined in
    "python3": "rosdep/base.yaml",
    "python3-numpy": "rosdep/python.yaml",
    "python3-yaml": "rosdep/python.yaml",
    "python3-pil": "rosdep/python.yaml",
    "python3-scipy": "rosdep/python.yaml",
    "python3-tqdm": "rosdep/python.yaml",
    "python3-matplotlib": "rosdep/python.yaml",
    "python3-onnxruntime-pip": "rosdep/python.yaml",
    "python3-onnxruntime-gpu-pip": "rosdep/python.yaml",
    "python3-pytest": "rosdep/python.yaml",
}
ROS_PACKAGES = {
    "ament_cmake", "rosidl_default_generators", "rosidl_default_runtime", "rclpy",
    "rcl_interfaces", "std_msgs", "sensor_msgs", "geometry_msgs", "diagnostic_msgs",
    "tf2_msgs", "launch", "launch_ros", "rviz2", "rmw_fastrtps_cpp", "ament_index_python",
    "builtin_interfaces",
}
#: top-level import -> the package.xml key that provides it
IMPORT_KEYS = {
    "numpy": "python3-numpy", "yaml": "python3-yaml", "PIL": "python3-pil",
    "scipy": "python3-scipy", "tqdm": "python3-tqdm", "matplotlib": "python3-matplotlib",
    "onnxruntime": "python3-onnxruntime-pip",
}
#: imports without a rosdep key: the requirements.txt name that installs them
PIP_ONLY = {"torch": "torch", "onnx": "onnx", "onnxscript": "onnxscript",
            "rosbags": "rosbags", "tensorboard": "tensorboard"}
#: optional GPU backends, imported only when selected (docs/inference.md)
OPTIONAL = {"tensorrt", "torch2trt"}


def _keys() -> dict[str, str]:
    """package.xml key -> its tag."""
    root = ET.parse(REPO / "package.xml").getroot()
    return {e.text.strip(): e.tag for e in root if e.tag.endswith("depend")}


def _imports() -> set[str]:
    """Top-level modules imported by the package and the launch file (absolute imports)."""
    names: set[str] = set()
    files = [*(REPO / "depthnet_nano_ros").rglob("*.py"), *(REPO / "launch").glob("*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"depthnet_nano_ros", "__future__"}


def test_every_key_resolves():
    unknown = {k for k in _keys() if k not in ROSDEP_KEYS and k not in ROS_PACKAGES}
    assert not unknown, (f"package.xml keys with no rosdep definition: {sorted(unknown)} "
                         "(see this file's docstring for the checked spellings)")


def test_every_import_is_declared():
    keys = _keys()
    missing = []
    for name in sorted(_imports()):
        if name in OPTIONAL or name in PIP_ONLY:
            continue
        key = IMPORT_KEYS.get(name, name)  # ROS packages import under their own name
        if key not in keys:
            missing.append(f"{name} (key {key})")
    assert not missing, f"imported but not declared in package.xml: {missing}"


def test_pip_only_dependencies_are_in_requirements_and_named_in_package_xml():
    reqs = {re.split(r"[=<>\[; ]", line.strip())[0].lower()
            for line in (REPO / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    used = _imports() & set(PIP_ONLY)
    assert used, "expected torch/onnx/rosbags imports in the package"
    for name in used | {"onnxscript"}:  # onnxscript: used by torch.onnx, not imported
        assert PIP_ONLY[name] in reqs, f"{name} has no rosdep key and is not in requirements.txt"
    comment = (REPO / "package.xml").read_text()
    for name in used | {"onnxscript"}:
        assert name in comment, f"package.xml should say that {name} comes from requirements.txt"
