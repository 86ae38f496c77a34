"""The pipeline worker, without the observer traffic nothing reads."""

from __future__ import annotations

from pipecat.observers.base_observer import BaseObserver, FrameProcessed
from pipecat.pipeline.worker import PipelineWorker
from pipecat.pipeline.worker_observer import WorkerObserver

from assistant.pipeline import compat


def handles_processed_frames(observer: BaseObserver) -> bool:
    return type(observer).on_process_frame is not BaseObserver.on_process_frame


class ProcessedFrameFilter(WorkerObserver):
    """pipecat's observer proxy, handing "frame processed" events only to observers that
    implement `on_process_frame`.

    pipecat 1.14 queues every processing of every frame, at every processor, to every observer:
    several events per microphone frame, each a queue put and a task wake-up, for each of a
    session's observers (RTVI, the recorder's, the voice-drop watch), although none of them
    implements `on_process_frame`. Pushes already reach only the observers that want them
    (`observe_every_push`); this does the same for processing.
    """

    async def on_process_frame(self, data: FrameProcessed) -> None:
        for proxy in (compat.observer_proxies(self) or {}).values():
            if handles_processed_frames(proxy.observer):
                await proxy.queue.put(data)


class AssistantWorker(PipelineWorker):
    """A `PipelineWorker` whose observers are fed through `ProcessedFrameFilter`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The worker hands its observer to the processors when the pipeline is set up, at run
        # time; replacing it here, with the same observers (pipecat's own RTVI one included),
        # is before anything holds it.
        pipecats = compat.worker_observer(self)
        compat.set_worker_observer(self, ProcessedFrameFilter(observers=compat.observers(pipecats)))
