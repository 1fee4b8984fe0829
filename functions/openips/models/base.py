"""The one pydantic base of openips' models.

``defer_build``: a model's validator is built when the model is first used, not when its module
is imported. Built eagerly, every nested model is compiled again inside each model that holds it;
a handler that validates a few models pays for those alone (docs/performance.md, cold start).
For the same reason the model modules evaluate their annotations as written (no ``from __future__
import annotations``): pydantic would compile every string annotation again at import.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)
