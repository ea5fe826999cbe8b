"""The error vocabulary of ``kaito.presets``.

Every lookup or sizing failure in the presets layer raises one of these, so callers (the webhook's
validation, the CLI, the operator's planner) can catch ``PresetError`` once and show its message,
which always names the offending input. They subclass ``ValueError`` because each one means "this
value is not acceptable", which also lets pydantic validators surface them as field errors.
"""

from __future__ import annotations


class PresetError(ValueError):
    """Base class: a preset name, instance type or sizing request cannot be served."""


class UnknownPresetError(PresetError):
    """The preset name is neither in the catalog nor a well-formed ``org/repo`` id.

    Attributes:
        name: The name as the user wrote it.
        suggestions: Canonical names of the closest known presets, best first (may be empty).
    """

    def __init__(self, name: str, suggestions: tuple[str, ...] = ()) -> None:
        self.name = name
        self.suggestions = suggestions
        message = f'unsupported preset name "{name}"'
        if suggestions:
            message += f"; did you mean {', '.join(suggestions)}?"
        message += (
            " (see 'kaito presets list', or give a Hugging Face model id such as org/model-name)"
        )
        super().__init__(message)


class DeprecatedPresetError(PresetError):
    """The preset existed upstream but is deprecated and no longer served (phi-2)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Model {name} is deprecated and no longer supported")


class UnknownInstanceTypeError(PresetError):
    """The instance type is not in the SKU table of the selected cloud.

    Attributes:
        instance_type: The instance type as given.
        cloud: The cloud whose table was searched.
        suggestions: Closest known instance types of that cloud, best first.
        known_on: Other clouds whose table lists this instance type.
    """

    def __init__(
        self,
        instance_type: str,
        cloud: str,
        suggestions: tuple[str, ...] = (),
        known_on: tuple[str, ...] = (),
    ) -> None:
        self.instance_type = instance_type
        self.cloud = cloud
        self.suggestions = suggestions
        self.known_on = known_on
        message = f'unknown instance type "{instance_type}" for cloud {cloud}'
        if known_on:
            message += f"; it is listed for cloud {' and '.join(known_on)}"
        elif suggestions:
            message += f"; did you mean {', '.join(suggestions)}?"
        super().__init__(message + " (see 'kaito presets skus')")


class EstimateError(PresetError):
    """The model cannot be placed on the given GPUs (too small, or would need unsupported nodes)."""
