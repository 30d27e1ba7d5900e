"""Stage 6: CTC training: batches, samplers, augmentation, mixing, distributed training, the trainer."""
