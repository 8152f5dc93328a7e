"""The training hot path: figures stay on the device between log points, and every collective
runs on the run's device (what NCCL needs), checked here on the CPU."""

import math

import pytest
import torch
import torch.distributed as dist

from gentk import api, distributed, engine
from gentk.distributed import World
from gentk.tally import Tally
from tests.syncs import assert_syncs_only_at_readings, record_host_syncs


@pytest.mark.parametrize("recipe", ["vae_toy", "gan_ring"])
def test_no_host_sync_between_log_points(recipe, tmp_path, monkeypatch):
    """Catches a `.item()` / `float(loss)` per step, in the engine or a model's train step: on a
    GPU each one stalls the host until the device catches up."""
    monkeypatch.setattr(engine, "LOG_EVERY", 5)
    calls = record_host_syncs(monkeypatch)
    small = [
        "data.n_train=1536",
        "data.n_test=64",
        "metrics=[]",
        "run.epochs=1",
        "run.n_samples=0",
        "run.batch_size=64",
    ]
    run = api.train(recipe, overrides=small, out=tmp_path)
    steps = run.metrics("epoch")[0]["step"]
    assert steps > 3 * engine.LOG_EVERY and calls  # the readings themselves are seen
    assert_syncs_only_at_readings(calls, steps)


def test_tally_sums_do_not_depend_on_when_they_are_read():
    """Catches sums that change when a run is stopped and resumed between log points (float32 sums,
    or partial sums added in another order): the resumed sums must equal the uninterrupted ones
    bit for bit."""
    values = list(torch.rand(50, generator=torch.Generator().manual_seed(0)))  # float32 scalars
    whole = Tally(torch.device("cpu"))
    for v in values:
        whole.add({"loss": v})
    first = Tally(torch.device("cpu"))
    for v in values[:17]:
        first.add({"loss": v})
    resumed = Tally(torch.device("cpu"), first.read(World()).sums)
    for v in values[17:]:
        resumed.add({"loss": v})
    assert resumed.read(World()).sums == whole.read(World()).sums


def test_tally_leaves_figures_on_an_accelerator_where_they_are():
    """Catches the tally reading a device's figures as they arrive (float() or .item() per step,
    a host sync each on a GPU): with a stand-in device ('meta', whose tensors cannot be read),
    adding figures must not read them."""
    tally = Tally(torch.device("meta"))
    for _ in range(3):
        tally.add({"loss": torch.ones((), device="meta"), "grad_norm": torch.ones((), device="meta")})
    assert tally.steps == 3 and all(t.device.type == "meta" for t in tally.sums.values())


def test_tally_reports_non_finite_figures_and_the_peak_loss():
    """Catches a NaN averaged away or a peak taken over the sums instead of the steps."""
    tally = Tally(torch.device("cpu"))
    for loss, norm in [(1.0, 2.0), (7.0, math.nan), (3.0, 1.0)]:
        tally.add({"loss": torch.tensor(loss), "grad_norm": norm})
    reading = tally.read(World(), [False, True])
    assert reading.peak_loss == 7.0 and reading.steps == 3 and reading.flags == [False, True]
    assert reading.sums["loss"] == 11.0
    name, value = reading.bad_figure()
    assert name == "grad_norm" and math.isnan(value)
    assert tally.read(World()).steps == 0  # a reading starts the next window


class Collectives:
    """Stands in for torch.distributed: records the device of every tensor a collective receives."""

    def __init__(self):
        self.devices: list[torch.device] = []

    def all_reduce(self, tensor, op=None):
        self.devices.append(tensor.device)
        raise _Stop

    broadcast = all_reduce


class _Stop(Exception):
    pass


def test_collectives_run_on_the_runs_device(monkeypatch):
    """Catches a collective built on a CPU tensor while the run is on a GPU (NCCL refuses those):
    with a stand-in device ('meta', which CI has where it has no GPU), every collective of the
    engine's figures, flags and checks must receive tensors on that device."""
    fake = Collectives()
    monkeypatch.setattr(dist, "all_reduce", fake.all_reduce)
    device = torch.device("meta")
    world = World(rank=0, size=2)
    tally = Tally(device)
    tally.add({"loss": torch.zeros((), device=device), "count": 1.0})
    with pytest.raises(_Stop):
        tally.read(world, [True])
    with pytest.raises(_Stop):
        distributed.any_flag(True, world, device)
    with pytest.raises(_Stop):
        distributed.check_in_sync({"net": torch.nn.Linear(2, 2, device=device)}, device)
    assert fake.devices == [device] * 3


def test_each_process_makes_its_own_gpu_current_before_joining(monkeypatch):
    """Catches NCCL processes that all use GPU 0 (set_device never called, or called after the
    process group exists): object collectives and NCCL's communicator follow the current GPU."""
    order: list[tuple] = []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: order.append(("set_device", index)))
    monkeypatch.setattr(dist, "init_process_group", lambda backend: order.append(("init", backend)))
    world = World(rank=3, size=4, local_rank=1)
    distributed.init(world, torch.device("cuda"))
    assert order == [("set_device", 1), ("init", "nccl")]
    assert distributed.device_for(world, torch.device("cuda")) == torch.device("cuda", 1)
    order.clear()
    distributed.init(world, torch.device("cpu"))
    assert order == [("init", "gloo")]


def test_compiled_networks_train_and_their_checkpoints_load_uncompiled(tmp_path):
    """Catches run.compile changing the checkpoint's keys (a compiled wrapper's `_orig_mod.`
    prefixes), so that a compiled run could not be sampled or resumed without compiling."""
    small = ["data.n_train=256", "data.n_test=64", "metrics=[]", "run.epochs=1", "run.n_samples=0"]
    run = api.train("vae_toy", overrides=[*small, "run.compile=true"], out=tmp_path)
    keys = {k for net in run.dir.load_checkpoint()["networks"].values() for k in net}
    assert keys and not any("_orig_mod" in k for k in keys)
    assert run.sample(8).shape == (8, 2)  # the model open_run builds is not compiled


def test_fused_adam_takes_the_same_steps():
    """Catches the fused option changing the update's arithmetic (betas, weight decay or learning
    rate not passed to the fused implementation)."""
    from gentk.recipe import resolve_component

    nets = [torch.nn.Linear(4, 3) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    start = nets[0].weight.detach().clone()
    table = {"use": "adam", "lr": 0.1, "betas": [0.8, 0.9], "weight_decay": 0.01, "decoupled": True}
    opts = [
        resolve_component("optimizer", {**table, "fused": fused}).build(net.parameters())
        for fused, net in zip((False, True), nets, strict=True)
    ]
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        for net, opt in zip(nets, opts, strict=True):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    torch.testing.assert_close(nets[1].weight, nets[0].weight)
    assert not torch.equal(nets[0].weight, start)  # the steps moved the weights
