"""`python -m depthnet_nano_ros.demo`."""

import sys

from depthnet_nano_ros.demo.run import main

sys.exit(main())
