"""A Python WebRTC client (aiortc) that talks to the server like the page does."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from pipecat.processors.frameworks.rtvi.models import PROTOCOL_VERSION

from fakes.speech import rms


@dataclass
class RTCClient:
    http: httpx.AsyncClient
    pc: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    messages: list[dict[str, Any]] = field(default_factory=list)
    inbound_audio: bytearray = field(default_factory=bytearray)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = field(default_factory=list)
    _player: MediaPlayer | None = None
    inbound_rate: int = 48000
    inbound_channels: int = 1

    async def connect(self, wav: Path, offer_path: str = "/api/offer") -> dict[str, Any]:
        """Send `wav` as the microphone; returns the server's answer."""
        self._player = MediaPlayer(str(wav))
        self.pc.addTrack(self._player.audio)
        self.pc.addTransceiver("video", direction="recvonly")
        channel = self.pc.createDataChannel("chat", ordered=True)

        @channel.on("open")
        def _open():
            self._tasks.append(asyncio.create_task(self._keepalive(channel)))
            channel.send(
                json.dumps(
                    {
                        "label": "rtvi-ai",
                        "type": "client-ready",
                        "id": "ready-1",
                        "data": {"version": PROTOCOL_VERSION, "about": {"library": "aiortc-test"}},
                    }
                )
            )

        @channel.on("message")
        def _message(raw):
            if isinstance(raw, str) and raw.startswith("{"):
                self.messages.append(json.loads(raw))
                self.changed.set()

        @self.pc.on("track")
        def _track(track):
            if track.kind == "audio":
                self._tasks.append(asyncio.create_task(self._record(track)))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        response = await self.http.post(
            offer_path, json={"sdp": self.pc.localDescription.sdp, "type": "offer"}
        )
        response.raise_for_status()
        answer = response.json()
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        return answer

    async def _keepalive(self, channel) -> None:
        # pipecat treats a peer that stops pinging for 3 s as gone.
        while channel.readyState == "open":
            channel.send(f"ping: {asyncio.get_running_loop().time()}")
            await asyncio.sleep(1)

    async def _record(self, track) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            self._on_inbound_frame(frame)

    def _on_inbound_frame(self, frame) -> None:
        samples = frame.to_ndarray()  # s16, interleaved channels
        self.inbound_rate = frame.sample_rate
        self.inbound_channels = len(frame.layout.channels)
        self.inbound_audio.extend(samples.tobytes())
        self.changed.set()

    def server_messages(self, message_type: str | None = None) -> list[Any]:
        data = [m.get("data") for m in self.messages if m.get("type") == "server-message"]
        return [d for d in data if message_type is None or (d or {}).get("type") == message_type]

    def bot_said(self) -> str:
        """Everything the bot's RTVI `bot-output` messages carried, lower-cased."""
        return " ".join(m["data"].get("text") or "" for m in self.of_type("bot-output")).lower()

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == message_type]

    async def wait_until(self, predicate, timeout: float = 20.0) -> None:
        async def loop():
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)

    def loud_audio_seconds(self, threshold: float = 300.0) -> float:
        """Seconds of inbound audio (in 20 ms windows) louder than `threshold` RMS."""
        window = int(self.inbound_rate * 0.02) * 2 * self.inbound_channels
        audio = bytes(self.inbound_audio)
        loud = sum(
            1
            for i in range(0, len(audio) - window, window)
            if rms(audio[i : i + window]) > threshold
        )
        return loud * 0.02

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._player and self._player.audio:
            self._player.audio.stop()
        await self.pc.close()
