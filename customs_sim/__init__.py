"""A stand-in for the customs special-area system (金关二期): the one party tests cannot reach.

Its own package, not part of the domain: ``core`` is customs' state and answers, ``validation``
what it checks in a message, ``receipts`` the receipts it sends as the real ones are shaped,
``writeoff`` its write-off desk (white cards, manifests, tally status), ``server`` the HTTP
transport (``tally customs-sim``), ``fake`` the same customs behind the customs client's
interface, in-process, for unit tests.
"""

from customs_sim.core import MODES, Customs
from customs_sim.server import Simulator, serve

__all__ = ["MODES", "Customs", "Simulator", "serve"]
