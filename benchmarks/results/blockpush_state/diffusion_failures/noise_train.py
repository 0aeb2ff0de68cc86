"""Scratch: `robolearn train` with FeatureNoise applied to every feature (state rows too), sigma from --feature-noise."""
import sys
import robolearn.train as T
_orig = T.FeatureNoise.__init__
def _init(self, head, sigma, image_dim):
    _orig(self, head, sigma, 10**6)
T.FeatureNoise.__init__ = _init
from robolearn.cli import main
if __name__ == "__main__":
    sys.argv = ["robolearn", "train"] + sys.argv[1:]
    sys.exit(main())
