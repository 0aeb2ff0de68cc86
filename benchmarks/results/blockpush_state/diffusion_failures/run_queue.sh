#!/bin/bash
cd /work/exp19b
while kill -0 $(cat logs/run_cheap.pid) 2>/dev/null; do sleep 5; done
LR=1e-3 ./run_variant.sh lr1e-3
