"""Never a silent empty output: incompatible-QoS events of every endpoint, and an input watchdog.

Every subscription and publisher of depth_node gets rclpy event callbacks. An incompatible
peer is logged (throttled) with what it offers or requests, what this node uses and which
`qos.*` parameter fixes it, and counted as `qos_incompatible` on /diagnostics (WARN). The
watchdog warns once when no image arrived for `diagnostics.input_timeout` seconds, saying
whether any publisher is matched at all.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import QoSPolicyKind, QoSProfile

#: reason, kind -> recorded on /diagnostics (NodeStats.problem)
Report = Callable[[str, str], None]


def describe(qos: QoSProfile) -> str:
    """'reliable/volatile'-style summary of the policies that decide compatibility."""
    return f"{qos.reliability.name.lower()}/{qos.durability.name.lower()}"


def _who(info: Any, peer: str) -> str:
    """'/ns/node' of a graph endpoint, or 'a publisher' while its node is not yet discovered."""
    if "_UNKNOWN_" in info.node_name:
        return f"a {peer}"
    return f"{info.node_namespace.rstrip('/')}/{info.node_name}"


def _policy(kind: Any) -> str:
    try:
        return QoSPolicyKind(int(kind)).name.lower()
    except ValueError:
        return str(kind)


class QosWatch:
    """Event callbacks for the node's endpoints plus the no-input watchdog."""

    def __init__(self, node: Node, report: Report, throttle: float) -> None:
        self._node, self._report, self._throttle = node, report, throttle
        self.matched_publishers = 0
        self._last_count = 0
        self._last_change = time.monotonic()
        self._warned = ""
        self._logged: dict[tuple[str, str], float] = {}

    # -- incompatible QoS -------------------------------------------------------------------
    def subscription(self, topic: str, qos: QoSProfile, param: str) -> SubscriptionEventCallbacks:
        """Callbacks for a subscription of `topic` with `qos`, fixed by the `param` reliability."""
        def incompatible(event: Any) -> None:
            name = self._node.resolve_topic_name(topic)
            peers = self._node.get_publishers_info_by_topic(name)
            self._incompatible("publisher", "offers", name, peers, qos, _policy(
                event.last_policy_kind), param, "best_effort")

        def matched(event: Any) -> None:
            self.matched_publishers = int(event.current_count)

        return SubscriptionEventCallbacks(incompatible_qos=incompatible,
                                          matched=matched if topic.startswith("image") else None)

    def publisher(self, topic: str, qos: QoSProfile, param: str) -> PublisherEventCallbacks:
        """Callbacks for a publisher of `topic` with `qos`, fixed by the `param` reliability."""
        def incompatible(event: Any) -> None:
            name = self._node.resolve_topic_name(topic)
            peers = self._node.get_subscriptions_info_by_topic(name)
            self._incompatible("subscription", "requests", name, peers, qos, _policy(
                event.last_policy_kind), param, "reliable")

        return PublisherEventCallbacks(incompatible_qos=incompatible)

    def _incompatible(self, peer: str, verb: str, topic: str, peers: list, ours: QoSProfile,
                      policy: str, param: str, fix: str) -> None:
        theirs = sorted({f"{_who(p, peer)} {verb} {describe(p.qos_profile)}" for p in peers
                         if p.node_name != self._node.get_name()
                         or p.node_namespace != self._node.get_namespace()})
        if policy == "reliability":
            how = f"set {param}:={fix} here (or change the other side)"
        elif policy == "durability":
            how = f"the other side must use volatile durability ({param} has none)"
        else:
            how = f"align the {policy} policy of the other side"
        reason = (f"QoS mismatch on {topic} ({policy}): {'; '.join(theirs) or f'a {peer}'}, "
                  f"this node uses {describe(ours)}; no messages flow: {how}")
        self._report(reason, "qos_incompatible")
        now = time.monotonic()  # throttled per topic and side, not per call site
        if now - self._logged.get((topic, peer), -math.inf) >= self._throttle:
            self._logged[(topic, peer)] = now
            self._node.get_logger().warning(reason)

    # -- no input ---------------------------------------------------------------------------
    def check_input(self, received: int, topic: str, timeout: float) -> str:
        """Called periodically: warn once per silence; returns the input state for diagnostics."""
        now = time.monotonic()
        if received != self._last_count:
            self._last_count, self._last_change, self._warned = received, now, ""
            return "ok"
        silent = now - self._last_change
        if timeout <= 0 or silent < timeout:
            return "ok" if received else "waiting"
        if self.matched_publishers == 0:
            state = (f"no publisher matched on {topic} for {silent:.0f} s: remap the node's "
                     "image topic to the camera's (ros2 topic list), check its QoS "
                     "(/diagnostics qos_incompatible) and ROS_DOMAIN_ID")
        else:
            state = (f"{self.matched_publishers} publisher(s) matched on {topic} but no image for "
                     f"{silent:.0f} s: is the camera streaming? for large best-effort images "
                     "check the DDS transport (docs/ros_node.md)")
        kind = state.split(" ", 1)[0]
        if self._warned != kind:
            self._warned = kind
            self._node.get_logger().warning(state)
            self._report(state, "input_silent")
        return state
