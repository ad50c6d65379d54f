"""Static checks of launch/depth.launch.py, the parameter YAML, the RViz config and the Fast DDS
profile against the installed package and the node's own parameter table (launch_ros cannot
run here)."""

from __future__ import annotations

import ast
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from ament_index_python.packages import get_package_prefix, get_package_share_directory

from depthnet_nano_ros.ros.depth_node import PARAMETER_NAMES, PARAMETERS

PACKAGE = "depthnet_nano_ros"
REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("AMENT_PREFIX_PATH", str(REPO / ".venv"))  # `make install`'s prefix
SHARE = Path(get_package_share_directory(PACKAGE))
LAUNCH = SHARE / "launch" / "depth.launch.py"


@pytest.fixture(scope="module")
def tree() -> ast.Module:
    return ast.parse(LAUNCH.read_text(), filename=str(LAUNCH))


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    """Calls of a function or class called `name` (plain or attribute)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == name) or (
                    isinstance(f, ast.Attribute) and f.attr == name):
                out.append(node)
    return out


def _constant(tree: ast.Module, name: str):
    """Literal value of a module-level assignment."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{LAUNCH} has no module-level {name}")


def _declared(tree: ast.Module) -> set[str]:
    names = {a[0] for a in _constant(tree, "ARGUMENTS")}
    for call in _calls(tree, "DeclareLaunchArgument"):
        if call.args and isinstance(call.args[0], ast.Constant):
            names.add(call.args[0].value)
    return names


def test_launch_file_is_installed_and_parses(tree):
    assert LAUNCH.is_file() and LAUNCH.resolve() == (REPO / "launch/depth.launch.py").resolve()
    funcs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in funcs
    compile(tree, str(LAUNCH), "exec")


def test_issue_arguments_are_declared(tree):
    required = {"image", "camera_info", "params_file", "engine", "backend", "namespace", "rviz"}
    declared = _declared(tree)
    assert required <= declared
    assert dict((a[0], a[1]) for a in _constant(tree, "ARGUMENTS"))["rviz"] == "false"


def test_every_declared_argument_is_used(tree):
    used = {c.args[0].value for c in _calls(tree, "LaunchConfiguration")
            if c.args and isinstance(c.args[0], ast.Constant)}
    # Arguments read in the loop `for argument, ... in PARAMETER_OVERRIDES.items():
    # LaunchConfiguration(argument)`.
    for node in ast.walk(tree):
        if (isinstance(node, ast.For) and isinstance(node.iter, ast.Call)
                and ast.unparse(node.iter) == "PARAMETER_OVERRIDES.items()"):
            loop_var = node.target.elts[0].id  # type: ignore[attr-defined]
            if any(isinstance(c.args[0], ast.Name) and c.args[0].id == loop_var
                   for c in _calls(node, "LaunchConfiguration") if c.args):
                used |= set(_constant(tree, "PARAMETER_OVERRIDES"))
    unused = _declared(tree) - used
    assert not unused, f"declared but never used: {unused}"
    undeclared = used - _declared(tree)
    assert not undeclared, f"used but never declared: {undeclared}"


def test_parameters_it_sets_are_declared_by_the_node(tree):
    params = set(_constant(tree, "PARAMETER_OVERRIDES").values())
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    env_dicts = {id(k.value) for c in _calls(tree, "Node") for k in c.keywords
                 if k.arg == "additional_env"} | {
        id(n) for c in _calls(tree, "Node") for k in c.keywords if k.arg == "additional_env"
        for n in ast.walk(k.value) if isinstance(n, ast.Dict)}
    for d in (n for f in functions for n in ast.walk(f)
              if isinstance(n, ast.Dict) and id(n) not in env_dicts):
        params |= {k.value for k in d.keys if isinstance(k, ast.Constant)}
    assert params and params <= set(PARAMETER_NAMES), set(params) - set(PARAMETER_NAMES)


def test_files_and_executables_it_points_at_exist(tree):
    files = [Path(SHARE, *(a.value for a in c.args)) for c in _calls(tree, "_share")]
    assert {f.name for f in files} == {"depthnet_nano.yaml", "fastdds_large_data.xml",
                                       "depth.rviz"}
    for f in files:
        assert f.is_file(), f"{f} is missing from the installed package"
    nodes = [{k.arg: k.value for k in c.keywords} for c in _calls(tree, "Node")]
    ours = [n for n in nodes if ast.unparse(n["package"]) == "PACKAGE"]
    assert [ast.literal_eval(n["executable"]) for n in ours] == ["depth_node"]
    assert (Path(get_package_prefix(PACKAGE)) / "lib" / PACKAGE / "depth_node").is_file()
    remapped = {ast.literal_eval(t.elts[0]) for n in ours for t in n["remappings"].elts}
    assert remapped == {"image", "image/compressed", "camera_info"}


def test_launch_never_changes_the_environment_of_other_processes(tree):
    """The profile goes to depth_node alone (additional_env), never SetEnvironmentVariable."""
    assert not _calls(tree, "SetEnvironmentVariable")
    nodes = [c for c in _calls(tree, "Node") if "additional_env" in
             {k.arg for k in c.keywords}]
    assert len(nodes) == 1 and "depth_node" in ast.unparse(nodes[0])
    assert "FASTDDS_DEFAULT_PROFILES_FILE" in ast.unparse(nodes[0])


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_yaml_keys_are_node_parameters_with_the_table_defaults():
    doc = yaml.safe_load((SHARE / "config" / "depthnet_nano.yaml").read_text())
    assert list(doc) == ["/**"]
    values = _flatten(doc["/**"]["ros__parameters"])
    assert set(values) == set(PARAMETER_NAMES)
    for p in PARAMETERS:
        assert type(values[p.name]) is type(p.default) and values[p.name] == p.default, p.name


def test_parameters_have_descriptions():
    assert len(set(PARAMETER_NAMES)) == len(PARAMETERS)
    for p in PARAMETERS:
        # grouped names; `lifecycle` stays top-level as in Nav2 (`-p lifecycle:=true`)
        assert p.description and ("." in p.name or p.name == "lifecycle")


def test_rviz_config_shows_the_node_outputs(tree):
    cfg = yaml.safe_load((SHARE / "config" / "depth.rviz").read_text())
    manager = cfg["Visualization Manager"]
    displays = {d["Class"]: d for d in manager["Displays"]}
    image = displays["rviz_default_plugins/Image"]["Topic"]
    cloud = displays["rviz_default_plugins/PointCloud2"]["Topic"]
    assert (image["Value"], cloud["Value"]) == ("depth/colored", "points")
    # Best effort subscriptions match both reliable and best-effort publishers.
    assert image["Reliability Policy"] == cloud["Reliability Policy"] == "Best Effort"
    frame = dict((a[0], a[1]) for a in _constant(tree, "ARGUMENTS"))["camera_frame"]
    assert manager["Global Options"]["Fixed Frame"] == frame


def test_fastdds_profile_keeps_the_default_transports_with_a_large_shm_segment():
    """SHM (32 MB) + UDPv4 on every interface: what a default process uses, so it sees us."""
    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(SHARE / "config" / "fastdds_large_data.xml").getroot()
    transports = {t.find("d:transport_id", ns).text: t
                  for t in root.iterfind(".//d:transport_descriptor", ns)}
    kinds = {t.find("d:type", ns).text: t for t in transports.values()}
    assert set(kinds) == {"SHM", "UDPv4"}
    assert int(kinds["SHM"].find("d:segment_size", ns).text) >= 16 * 1024 * 1024
    for t in transports.values():  # no interface or address restriction
        assert not [e.tag for e in t.iter() if "WhiteList" in e.tag or "interfaces" in e.tag]
    participant = root.find(".//d:participant", ns)
    assert participant.get("is_default_profile") == "true"
    used = [t.text for t in participant.iterfind(".//d:userTransports/d:transport_id", ns)]
    assert set(used) == set(transports)
    # Builtins off only because the user SHM transport replaces the builtin one (same kinds).
    assert participant.find(".//d:useBuiltinTransports", ns).text == "false"


def test_docs_list_every_parameter():
    doc = (REPO / "docs" / "ros_node.md").read_text()
    missing = [name for name in PARAMETER_NAMES if f"`{name}`" not in doc]
    assert not missing, f"docs/ros_node.md lacks {missing}"
