"""OXTS (GPS/IMU) records and KITTI timestamps for the synthetic drive."""

from __future__ import annotations

import time

import numpy as np

#: where frame 0's IMU is on Earth (the start of KITTI drive 2011_09_26_0005) and ground altitude
LAT0_DEG, LON0_DEG, ALT0_M = 49.011212804408, 8.4228850417969, 112.83
EARTH_RADIUS_M = 6378137.0
#: first frame's time: 2011-09-26 13:00:00 UTC, in ns since the epoch
T0_NS = 1317042000 * 1_000_000_000

#: oxts/dataformat.txt as KITTI ships it
OXTS_DATAFORMAT = (
    'lat:   latitude of the oxts-unit (deg)\n'
    'lon:   longitude of the oxts-unit (deg)\n'
    'alt:   altitude of the oxts-unit (m)\n'
    'roll:  roll angle (rad),    0 = level, positive = left side up,      range: -pi   .. +pi\n'
    'pitch: pitch angle (rad),   0 = level, positive = front down,        range: -pi/2 .. +pi/2\n'
    'yaw:   heading (rad),       0 = east,  positive = counter clockwise, range: -pi   .. +pi\n'
    'vn:    velocity towards north (m/s)\n'
    've:    velocity towards east (m/s)\n'
    'vf:    forward velocity, i.e. parallel to earth-surface (m/s)\n'
    'vl:    leftward velocity, i.e. parallel to earth-surface (m/s)\n'
    'vu:    upward velocity, i.e. perpendicular to earth-surface (m/s)\n'
    'ax:    acceleration in x, i.e. in direction of vehicle front (m/s^2)\n'
    'ay:    acceleration in y, i.e. in direction of vehicle left (m/s^2)\n'
    'ay:    acceleration in z, i.e. in direction of vehicle top (m/s^2)\n'
    'af:    forward acceleration (m/s^2)\n'
    'al:    leftward acceleration (m/s^2)\n'
    'au:    upward acceleration (m/s^2)\n'
    'wx:    angular rate around x (rad/s)\n'
    'wy:    angular rate around y (rad/s)\n'
    'wz:    angular rate around z (rad/s)\n'
    'wf:    angular rate around forward axis (rad/s)\n'
    'wl:    angular rate around leftward axis (rad/s)\n'
    'wu:    angular rate around upward axis (rad/s)\n'
    'pos_accuracy:  velocity accuracy (north/east in m)\n'
    'vel_accuracy:  velocity accuracy (north/east in m/s)\n'
    'navstat:       navigation status (see navstat_to_string)\n'
    'numsats:       number of satellites tracked by primary GPS receiver\n'
    'posmode:       position mode of primary GPS receiver (see gps_mode_to_string)\n'
    'velmode:       velocity mode of primary GPS receiver (see gps_mode_to_string)\n'
    'orimode:       orientation mode of primary GPS receiver (see gps_mode_to_string)\n'
)


def kitti_timestamp(ns: int) -> str:
    """Integer ns since the epoch -> KITTI's 'YYYY-MM-DD HH:MM:SS.fffffffff' (UTC)."""
    seconds, frac = divmod(int(ns), 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}"


def oxts_record(imu_position: np.ndarray, speed: float, accel: float) -> str:
    """One 30-value OXTS line for an IMU at world `imu_position` heading east (+x) at `speed`.

    World x points east and y north; the Mercator inverse is KITTI devkit's (scale = cos(lat0)).
    """
    scale = np.cos(np.deg2rad(LAT0_DEG))
    my0 = scale * EARTH_RADIUS_M * np.log(np.tan(np.pi * (90 + LAT0_DEG) / 360))
    lon = LON0_DEG + np.rad2deg(imu_position[0] / (scale * EARTH_RADIUS_M))
    lat = 360 / np.pi * np.arctan(np.exp((my0 + imu_position[1]) / (scale * EARTH_RADIUS_M))) - 90
    alt = ALT0_M + imu_position[2]
    g = 9.81
    values = [lat, lon, alt, 0.0, 0.0, 0.0,              # roll, pitch, yaw (east)
              0.0, speed, speed, 0.0, 0.0,                # vn, ve, vf, vl, vu
              accel, 0.0, g, accel, 0.0, g,               # ax, ay, az, af, al, au
              0.0, 0.0, 0.0, 0.0, 0.0, 0.0]               # angular rates
    text = " ".join(f"{float(v):.14g}" for v in values)
    return text + " 0.49229361157748 0.068883960397178 4 10 4 4 0\n"
