"""Registry entries of the unconditional samplers (merged into ``SAMPLERS`` by ``__init__``)."""
from .ddim import ddim
from .ddpm import ddpm
from .gradient_estimation import gradient_estimation
from .heun import heun

UNCONDITIONAL = {"ddpm": ddpm, "ddim": ddim, "heun": heun, "gradient_estimation": gradient_estimation}
