from engine.mime import ParsedMessage, parse_message
from engine.parallel import ParseWorker
from testkit.demo_mail import demo_mailbox


def test_worker_parses_like_parse_message():
    raws = [m.raw for m in demo_mailbox(count=40)]
    with ParseWorker() as worker:
        first = worker.parse_many(raws[:20])
        second = worker.parse_many(raws[20:])
        assert not worker.failed
    assert first + second == [parse_message(r) for r in raws]
    assert all(isinstance(p, ParsedMessage) for p in first)


def test_dead_worker_falls_back_to_in_process():
    raws = [m.raw for m in demo_mailbox(count=3)]
    worker = ParseWorker()
    worker.start()
    worker._proc.kill()
    worker._proc.wait()
    assert worker.parse_many(raws) == [parse_message(r) for r in raws]
    assert worker.failed
    worker.close()
