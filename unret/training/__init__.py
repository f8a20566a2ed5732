"""Training: losses, data modules, Lightning modules and the training CLI.

Import the submodules directly (``from unret.training.losses import InfoNCELoss``); this package
deliberately imports nothing so that ``import unret.training`` stays cheap.
"""
