"""Evaluation by role: `rollouts` (the env runner), `workers` (the env side, in each worker
process), `statistics` (summary, Wilson interval, shards), `video`. The `robolearn eval` stage that
runs them is `robolearn.evaluate`."""
