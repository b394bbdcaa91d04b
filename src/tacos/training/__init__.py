"""Training with PyTorch Lightning: Clotho pretraining, TACOS fine-tuning, supervised SED.

In the order a run uses them: ``stages`` reads a stage's settings from the config; ``data`` turns
a manifest and its audio store into batches; ``module`` is the LightningModule (the losses of
``tacos.losses``), with ``distributed`` gathering the global batch under DDP; ``run`` builds the
trainer, checkpoints and resumes; ``cluster`` picks the process launcher and requeues a SLURM
job that runs out of time; ``supervised`` trains an encoder with a strong head; ``retrieval``
computes validation's Clotho text-to-audio retrieval metrics.
"""
