"""The step flows' parameters: :class:`alflow.config.StepOptions`, under the path that the CLI
and the App plugin import it from."""

from alflow.config import StepOptions

__all__ = ["StepOptions"]
