"""Step 3 of the pipeline: authorise a verified request against the SMI.

``authorise(request, inventory, profile, dsp_eui)`` gives a :class:`Decision`:
the first failing DUIS check's response code (E1 ... E19) or acceptance.
"""

from __future__ import annotations

from ..catalogue import lookup
from ..messages import Request
from ..profiles import ProfileQuestions
from ..smi import Inventory
from .checks import CHECKS, AuthorisationContext, Decision, decide


def authorise(request: Request, inventory: Inventory, profile: ProfileQuestions,
              dsp_eui: str, *, web_service: str | None = None) -> Decision:
    """Decide what a verified request gets, reading users and devices from the SMI."""
    service = lookup(request.service_reference_variant)
    device = None if service.non_device else inventory.device(str(request.target))
    ctx = AuthorisationContext(request, service, inventory.user(str(request.originator)),
                               device, profile, dsp_eui, web_service)
    return decide(ctx)


__all__ = ["CHECKS", "AuthorisationContext", "Decision", "authorise", "decide"]
