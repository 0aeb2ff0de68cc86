#!/bin/bash
# DynaMo on 200 BlockPush demos at 32 px, conv first stride 1 vs 2, official block-push settings, short preset.
for fs in "$@"; do
  /usr/bin/time -f "%e s" /work/main/.venv/bin/robolearn pretrain --data /work/exp20/bp200_32.hdf5 --out /work/exp20/dyn_fs$fs \
    --objective dynamo --wandb disabled --threads 1 --overwrite --encoder.first-stride $fs \
    --optim.steps 600 --optim.batch-size 32 --optim.lr 3e-4 --optim.warmup-steps 50 --optim.seed 0 \
    --dynamo.target ema --dynamo.layers 4 --dynamo.heads 4 --dynamo.embed 72 --dynamo.dropout 0.3 --dynamo.jitter 0.0 \
    > /work/exp20/dyn_fs$fs.log 2>&1
done
