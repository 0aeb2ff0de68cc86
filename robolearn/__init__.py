__version__ = "0.1.0"

# A child spawned by a robolearn process that must not outlive it (evaluation loops) binds its life
# to its parent's here, on its first import, before torch or MuJoCo load (robolearn/lifetime.py).
from robolearn.lifetime import bind_to_parent as _bind_to_parent

_bind_to_parent()
