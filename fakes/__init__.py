"""What tests and benchmarks share: stand-ins for the world around the assistant.

Protocol-faithful local fakes of the cloud services it talks to (groq, cartesia), a headless
session against them (harness), a WebRTC peer that talks like the page (rtc_client) and spoken
input (speech). A package of its own, beside tests/ and bench/, so bench never imports tests;
outside assistant/ so the wheel does not ship test doubles.
"""

from fakes.cartesia import FakeCartesia
from fakes.groq import FakeGroq

__all__ = ["FakeCartesia", "FakeGroq"]
