"""adamasync.torch against torch.optim: one worker, one shard, the same
model and data; the parameters agree to 1e-6 relative over 50 steps.

Skipped when PyTorch is not installed (scripts/test_python.sh installs it
unless ADAMASYNC_TEST_TORCH=0). The servers follow PyTorch's CPU Adam
operation by operation except for sqrt, which PyTorch's CPU kernels take
from MKL (not correctly rounded, see kernels/adam_math.h): about one element
in five ends a step one ulp apart, hence a tolerance rather than equality.
"""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny models: thread pools only add latency on busy machines
import adamasync  # noqa: E402
import adamasync.torch as adamasync_torch  # noqa: E402
from adam_reference import max_relative_error  # noqa: E402

STEPS = 50
TOLERANCE = 1e-6


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def _batches(steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(32, 8, generator=g), torch.randn(32, 3, generator=g))
            for _ in range(steps)]


def _train_step(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def _worst_error(model, reference):
    return max(max_relative_error(p.detach().numpy(), q.detach().numpy())
               for p, q in zip(model.parameters(), reference.parameters()))


CASES = {
    "adam": (adamasync_torch.RemoteAdam, torch.optim.Adam, dict(lr=1e-2)),
    "adam_l2_amsgrad": (adamasync_torch.RemoteAdam, torch.optim.Adam,
                        dict(lr=1e-2, weight_decay=1e-2, amsgrad=True)),
    "adam_maximize_betas": (adamasync_torch.RemoteAdam, torch.optim.Adam,
                            dict(lr=5e-3, betas=(0.8, 0.99), eps=1e-6, maximize=True)),
    "adamw": (adamasync_torch.RemoteAdamW, torch.optim.AdamW, dict(lr=1e-2)),
    "adamw_amsgrad": (adamasync_torch.RemoteAdamW, torch.optim.AdamW,
                      dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("overlap", [False, True], ids=["sync", "overlap"])
def test_matches_torch_optim(one_shard, table_name, case, overlap):
    remote_cls, torch_cls, kwargs = CASES[case]
    model = _model()
    optimizer = remote_cls(model.named_parameters(), servers=one_shard,
                           prefix=table_name + "/", overlap=overlap, **kwargs)
    hook = optimizer.install_pull_hook(model) if overlap else None
    # The model now holds the servers' initial values; the reference starts there.
    reference = copy.deepcopy(model)
    reference_optimizer = torch_cls(reference.parameters(), foreach=False, **kwargs)
    worst = 0.0
    for x, y in _batches(STEPS):
        loss = _train_step(model, optimizer, x, y)
        reference_loss = _train_step(reference, reference_optimizer, x, y)
        assert abs(loss - reference_loss) <= 1e-5 * max(abs(reference_loss), 1.0)
        optimizer.synchronize()
        worst = max(worst, _worst_error(model, reference))
    if hook is not None:
        hook.remove()
    optimizer.close()
    assert worst <= TOLERANCE, f"max relative error {worst:.3g} over {STEPS} steps"


def test_tables_and_initial_values(one_shard, table_name):
    model = _model()
    with torch.no_grad():
        model[0].bias.zero_()
        model[2].bias.fill_(0.25)
    before_weight = model[0].weight.detach().clone()
    optimizer = adamasync_torch.RemoteAdam(model, servers=one_shard, prefix=table_name + "/")
    assert optimizer.tables == {n: f"{table_name}/{n}" for n, _ in model.named_parameters()}
    with adamasync.Client(one_shard) as client:
        for name, param in model.named_parameters():
            values = np.empty(param.numel(), np.float32)
            client.pull(optimizer.tables[name], values)
            np.testing.assert_array_equal(values, param.detach().numpy().reshape(-1))
    assert torch.all(model[0].bias == 0) and torch.all(model[2].bias == 0.25)
    # A uniform weight: replaced by values with the same spread.
    weight = model[0].weight.detach()
    assert not torch.equal(weight, before_weight)
    assert abs(weight.std().item() - before_weight.std().item()) < 0.05
    assert weight.abs().max().item() <= before_weight.abs().max().item() * 1.1
    optimizer.close()


def test_second_worker_attaches(one_shard, table_name):
    first_model, second_model = _model(seed=0), _model(seed=5)
    first = adamasync_torch.RemoteAdam(first_model, servers=one_shard, prefix=table_name + "/",
                                       worker_id=1)
    second = adamasync_torch.RemoteAdam(second_model, servers=one_shard,
                                        prefix=table_name + "/", create=False,
                                        attach_timeout=5.0, worker_id=2)
    for p, q in zip(first_model.parameters(), second_model.parameters()):
        assert torch.equal(p, q)  # both start from the tables
    x, y = _batches(1)[0]
    _train_step(second_model, second, x, y)
    first.step()  # no gradients: pulls only, and sees the second worker's update
    for p, q in zip(first_model.parameters(), second_model.parameters()):
        assert torch.equal(p, q)
    first.close()
    second.close()


def test_attach_to_a_missing_table_times_out(one_shard, table_name):
    with pytest.raises(adamasync.NotFoundError):
        adamasync_torch.RemoteAdam(_model(), servers=one_shard, prefix=table_name + "/",
                                   create=False, attach_timeout=0.3)


def test_conflicting_hyper_parameters_are_already_exists(one_shard, table_name):
    adamasync_torch.RemoteAdam(_model(), servers=one_shard, prefix=table_name + "/",
                               lr=1e-3).close()
    with pytest.raises(adamasync.AlreadyExistsError):
        adamasync_torch.RemoteAdam(_model(), servers=one_shard, prefix=table_name + "/",
                                   lr=2e-3)


def test_closure_frozen_and_gradless_parameters(one_shard, table_name):
    model = _model()
    model[0].weight.requires_grad_(False)  # frozen: no table
    optimizer = adamasync_torch.RemoteAdam(model, servers=one_shard, prefix=table_name + "/",
                                           lr=0.1)
    assert f"{table_name}/0.weight" not in optimizer.tables.values()
    frozen = model[0].weight.detach().clone()
    x, y = _batches(1)[0]

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert loss is not None and torch.equal(model[0].weight, frozen)
    # A parameter without a gradient is not stepped (as torch.optim skips it).
    bias = model[2].bias.detach().clone()
    optimizer.zero_grad()
    model[2].weight.sum().backward()
    optimizer.step()
    assert torch.equal(model[2].bias, bias)
    optimizer.zero_grad(set_to_none=False)
    assert torch.all(model[2].weight.grad == 0)
    optimizer.close()


def test_argument_errors(one_shard, table_name):
    with pytest.raises(TypeError, match="float32"):
        adamasync_torch.RemoteAdam(_model().double(), servers=one_shard)
    with pytest.raises(ValueError, match="no trainable"):
        adamasync_torch.RemoteAdam([], servers=one_shard)
    with pytest.raises(TypeError, match="servers"):
        adamasync_torch.RemoteAdam(_model())
    with pytest.raises(adamasync.InvalidArgumentError):
        adamasync_torch.RemoteAdam(_model(), servers=one_shard, prefix=table_name + "/",
                                   lr=-1.0)
    with pytest.raises(NotImplementedError):
        adamasync_torch.RemoteAdam(_model(), servers=one_shard,
                                   prefix=table_name + "/ok/").state_dict()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("overlap", [False, True], ids=["sync", "overlap"])
def test_cuda_parameters_follow_cpu_ones(one_shard, table_name, overlap):
    # The pinned-memory path: two copies of a model, one on the GPU, on
    # tables with the same initial values, trained on the same batches.
    inits = {name: adamasync.Initializer.uniform(-0.3, 0.3, seed=i)
             for i, (name, _) in enumerate(_model().named_parameters())}
    cpu_model, gpu_model = _model(), _model().cuda()
    cpu_opt = adamasync_torch.RemoteAdam(cpu_model, servers=one_shard, lr=1e-2, init=inits,
                                         prefix=table_name + "/cpu/")
    gpu_opt = adamasync_torch.RemoteAdam(gpu_model, servers=one_shard, lr=1e-2, init=inits,
                                         prefix=table_name + "/gpu/", overlap=overlap)
    for p, q in zip(gpu_model.parameters(), cpu_model.parameters()):
        assert p.is_cuda and torch.equal(p.cpu(), q)
    for x, y in _batches(10):
        _train_step(cpu_model, cpu_opt, x, y)
        _train_step(gpu_model, gpu_opt, x.cuda(), y.cuda())
        gpu_opt.synchronize()
    # Only the device's forward and backward passes differ.
    assert max(max_relative_error(p.cpu().detach().numpy(), q.detach().numpy())
               for p, q in zip(gpu_model.parameters(), cpu_model.parameters())) <= 1e-4
    cpu_opt.close()
    gpu_opt.close()
