"""Protocol-faithful local fakes of the cloud services the assistant talks to."""

from tests.fakes.cartesia import FakeCartesia
from tests.fakes.groq import FakeGroq

__all__ = ["FakeCartesia", "FakeGroq"]
