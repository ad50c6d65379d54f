"""`make demo`: the whole chain (synth-drive -> kitti2bag -> depth_node -> evaluate --live).

``python -m depthnet_nano_ros.demo`` runs :func:`depthnet_nano_ros.demo.run.main`; ``steps``
runs each console script in its own process, ``outputs`` writes the PNGs, the cloud and the
README pictures.
"""
