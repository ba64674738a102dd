"""adamasync.torch: train a PyTorch model with Adam/AdamW run by AdamAsync servers.

Each trainable parameter becomes one table on the servers, created with the
optimizer's hyper-parameters. ``step()`` pushes every parameter's ``.grad``
(the servers apply the Adam step) and pulls the new values back into the
parameters, in place::

    model = Net()
    opt = adamasync.torch.RemoteAdam(model.named_parameters(),
                                     servers=["10.0.0.1:7000", "10.0.0.2:7000"],
                                     lr=1e-3)
    for x, y in batches:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

Initial values: the servers can only initialise a table from an
:class:`adamasync.Initializer` (zeros, constant, uniform, normal, from a
seed), and there is no RPC that assigns values. So the optimizer creates
each table with an initializer and, at construction, **pulls the table's
values into the model**, replacing the model's own initial weights. By
default (``init="auto"``) the initializer imitates the parameter's current
values: a constant parameter (zero biases, unit norm weights) gets that
constant, any other a uniform distribution with the same mean and standard
deviation (for PyTorch's default uniform initialisations, nearly the same
range). Pass an Initializer, a dict of them by parameter name, or a function
``(name, tensor) -> Initializer`` to choose.

Several workers: every worker builds the same model and optimizer and
passes its own ``worker_id``; one of them (or each, if their specs are
identical, e.g. the same ``torch.manual_seed``) creates the tables, the
others may pass ``create=False`` to wait for the tables and attach.

``overlap=True`` hides the network time behind the next batch's data
loading: ``step()`` starts the pushes and, as each finishes, the pull of
that parameter, and returns at once; :meth:`synchronize` (run it before the
next forward pass, or let :meth:`install_pull_hook` do it) waits for them.
Until then the parameters are being written and must not be read, and the
gradients must not be modified in place (``zero_grad(set_to_none=True)``,
the default, is fine).

Devices: CPU float32 parameters are pushed from and pulled into their own
memory, without copies. CUDA parameters go through pinned host buffers
(asynchronous device copies); that path needs a GPU to run and is not
exercised by the CPU-only test suite.
"""

import math
import time
import zlib

import torch

from . import _core
from ._client import Client, Future
from ._errors import NotFoundError

__all__ = ["RemoteAdam", "RemoteAdamW"]

_UINT64 = (1 << 64) - 1


def auto_initializer(table, tensor, seed=0):
    """The default initializer for `tensor`: its constant, or a uniform
    distribution with its mean and standard deviation, seeded from the
    table name so that every table differs (and every worker agrees)."""
    values = tensor.detach().to("cpu", torch.float64).reshape(-1)
    lo, hi = values.min().item(), values.max().item()
    if lo == hi:
        return _core.Initializer.zeros() if lo == 0 else _core.Initializer.constant(lo)
    mean, std = values.mean().item(), values.std(correction=0).item()
    half_width = math.sqrt(3.0) * std
    table_seed = (seed * 1_000_003 + zlib.crc32(table.encode())) & _UINT64
    return _core.Initializer.uniform(mean - half_width, mean + half_width, seed=table_seed)


class _Slot:
    """One parameter and its table: where its values and gradients are read
    and written (the parameter's own memory when possible, else pinned or
    plain host buffers) and the versions of its last pull."""

    def __init__(self, name, table, param):
        self.name = name
        self.table = table
        self.param = param
        self.pulled = None  # adamasync.Versions of the last pull
        self.copy_done = None  # CUDA event: host buffer copied to the device
        self._bind()

    def _bind(self):
        """(Re)derive the numpy view of the parameter's memory, or buffers."""
        p = self.param
        self.data_ptr = p.data_ptr()
        self.direct = p.device.type == "cpu" and p.is_contiguous()
        pin = p.device.type == "cuda"
        if self.direct:
            self.values = p.detach().view(-1).numpy()  # shares the parameter's memory
            self.host_values = None
        else:
            self.host_values = torch.empty(p.numel(), dtype=torch.float32, pin_memory=pin)
            self.values = self.host_values.numpy()
        self.host_grad = (torch.empty(p.numel(), dtype=torch.float32, pin_memory=True)
                          if pin else None)

    def check_binding(self):
        if self.param.data_ptr() != self.data_ptr:  # `param.data = ...` replaced the storage
            self._bind()

    def wait_for_device_copy(self):
        """Wait until the last host -> device copy has read the host buffer,
        so that a pull may overwrite it. Call on the training thread."""
        if self.copy_done is not None:
            self.copy_done.synchronize()
            self.copy_done = None

    def gradient(self):
        """The gradient as a float32 C-contiguous numpy array, or None.

        For a CUDA parameter the device -> host copy is only queued: the
        caller synchronises the device before pushing.
        """
        g = self.param.grad
        if g is None:
            return None
        if g.is_sparse:
            raise TypeError(f"parameter {self.name!r} has a sparse gradient; only dense "
                            f"gradients are supported")
        g = g.detach()
        if g.device.type == "cuda":
            self.host_grad.view(g.shape).copy_(g, non_blocking=True)
            return self.host_grad.numpy()
        if g.device.type != "cpu":  # another accelerator: a plain synchronous copy
            g = g.to("cpu")
        if g.dtype != torch.float32:
            g = g.to(torch.float32)
        return g.contiguous().view(-1).numpy()  # no copy when already contiguous

    def finish_pull(self):
        """Move pulled values from a host buffer into the parameter."""
        if self.direct:
            return
        with torch.no_grad():
            src = self.host_values.view(self.param.shape)
            if self.param.device.type == "cuda":
                with torch.cuda.device(self.param.device):  # its current stream
                    self.param.copy_(src, non_blocking=True)
                    self.copy_done = torch.cuda.Event()
                    self.copy_done.record()
            else:
                self.param.copy_(src)


class RemoteAdam:
    """torch.optim.Adam whose state and arithmetic live on AdamAsync servers.

    Args:
      named_parameters: ``model.named_parameters()``, a dict name -> tensor,
        or a torch.nn.Module. Parameters with ``requires_grad=False`` are
        left alone. REQUIRES: float32 dense parameters.
      servers: "host:port" of every shard in shard order (a list, or one
        comma-separated string). Ignored when ``client`` is given.
      lr, betas, eps, weight_decay, amsgrad, maximize: as torch.optim.Adam
        (RemoteAdamW: as torch.optim.AdamW, weight_decay default 1e-2).
      client: an existing :class:`adamasync.Client` to use (not closed by
        :meth:`close`); by default one is made from ``servers`` and
        ``client_options``.
      prefix: prepended to each parameter name to form its table name
        (table names: 1..128 of [A-Za-z0-9_.:/-]).
      init: "auto" (see the module doc), an :class:`adamasync.Initializer`
        for every table, a dict name -> Initializer (missing names: auto),
        or a function (name, tensor) -> Initializer.
      seed: mixed into the auto initializer's per-table seeds.
      create: True (default): create the tables (idempotent; a table that
        exists with a different spec is AlreadyExistsError). False: wait up
        to ``attach_timeout`` seconds for each table to exist and use it.
      consistency: an :class:`adamasync.ConsistencyConfig` for every table.
      overlap: see the module doc.
      worker_id: this worker's id (> 0) for exactly-once pushes and SSP; 0:
        anonymous.
      client_options: more :class:`adamasync.ClientOptions` fields
        (deadline=..., chunk_elements=...).

    After construction the model holds the tables' values.
    """

    _algorithm = _core.Algorithm.ADAM
    _default_weight_decay = 0.0

    def __init__(self, named_parameters, servers=None, *, lr=1e-3, betas=(0.9, 0.999),
                 eps=1e-8, weight_decay=None, amsgrad=False, maximize=False, client=None,
                 prefix="", init="auto", seed=0, create=True, attach_timeout=60.0,
                 consistency=None, overlap=False, worker_id=0, **client_options):
        if isinstance(named_parameters, torch.nn.Module):
            named_parameters = named_parameters.named_parameters()
        elif isinstance(named_parameters, dict):
            named_parameters = named_parameters.items()
        if weight_decay is None:
            weight_decay = self._default_weight_decay
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair, got {betas!r}")
        self.adam = _core.AdamConfig(algorithm=self._algorithm, lr=float(lr),
                                     beta1=float(betas[0]), beta2=float(betas[1]),
                                     eps=float(eps), weight_decay=float(weight_decay),
                                     amsgrad=bool(amsgrad), maximize=bool(maximize))
        self.overlap = overlap
        self._slots = []
        for name, param in named_parameters:
            if not isinstance(param, torch.Tensor):
                raise TypeError(f"{name!r} is a {type(param).__name__}, not a tensor")
            if not param.requires_grad:
                continue
            if param.dtype != torch.float32:
                raise TypeError(f"parameter {name!r} is {param.dtype}; the servers hold "
                                f"float32 tables (convert the model with .float())")
            self._slots.append(_Slot(name, prefix + name, param))
        if not self._slots:
            raise ValueError("no trainable parameters given")

        if client is None:
            if servers is None:
                raise TypeError("RemoteAdam needs servers= (or client=)")
            client = Client(servers, worker_id=worker_id, **client_options)
            self._owns_client = True
        else:
            if client_options or worker_id:
                raise TypeError("worker_id and client options belong to the given client")
            self._owns_client = False
        self.client = client
        self._pending = []  # (slot, Future of the pull's Versions) of the round in flight
        try:
            for slot in self._slots:
                if create:
                    self.client.create_table(_core.TableSpec(
                        slot.table, slot.param.numel(), adam=self.adam,
                        init=self._initializer(init, slot, seed),
                        consistency=consistency or _core.ConsistencyConfig()))
                else:
                    self._wait_for_table(slot, attach_timeout)
            self.pull()  # the model starts from the tables' values
        except BaseException:
            self.close()
            raise

    # -- torch.optim.Optimizer-like interface --------------------------------

    @property
    def tables(self):
        """Parameter name -> table name."""
        return {slot.name: slot.table for slot in self._slots}

    def zero_grad(self, set_to_none=True):
        """Like torch.optim.Optimizer.zero_grad."""
        if not set_to_none:
            self.synchronize()  # a push in flight may still read the gradient
        for slot in self._slots:
            g = slot.param.grad
            if g is None:
                continue
            if set_to_none:
                slot.param.grad = None
            else:
                if g.grad_fn is not None:
                    g.detach_()
                else:
                    g.requires_grad_(False)
                g.zero_()

    def step(self, closure=None):
        """Push every gradient, then pull every parameter.

        Parameters without a gradient are not pushed (as torch.optim.Adam
        skips them) but are still pulled, so they follow updates made by
        other workers. With overlap=False (default) returns once the model
        holds the new values; with overlap=True returns at once (see
        :meth:`synchronize`). Raises the first error of the round (an
        AdamAsyncError) after every call of the round has finished.
        """
        self.synchronize()  # an overlapped round still in flight
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for slot in self._slots:
            slot.check_binding()
            slot.wait_for_device_copy()
        gradients = [slot.gradient() for slot in self._slots]
        devices = {s.param.device for s, g in zip(self._slots, gradients)
                   if g is not None and s.param.device.type == "cuda"}
        for device in devices:  # the queued device -> host gradient copies
            torch.cuda.synchronize(device)
        self._pending = [(slot, self._push_then_pull(slot, g))
                         for slot, g in zip(self._slots, gradients)]
        if not self.overlap:
            self.synchronize()
        return loss

    def synchronize(self):
        """Wait for the round in flight; the model then holds the new values.

        A no-op when nothing is in flight. Raises the round's first error.
        """
        pending, self._pending = self._pending, []
        errors = []
        for slot, future in pending:
            try:
                slot.pulled = future.result()
                slot.finish_pull()
            except Exception as e:  # noqa: BLE001 - re-raised below
                errors.append((slot, e))
        if errors:
            slot, first = errors[0]
            if len(errors) > 1 and hasattr(first, "add_note"):  # Python >= 3.11
                first.add_note(f"{len(errors) - 1} more parameters failed in this step")
            raise first

    def pull(self):
        """Bring every parameter up to date with the tables, pushing nothing
        (e.g. before evaluating, when other workers keep training)."""
        self.synchronize()
        for slot in self._slots:
            slot.check_binding()
            slot.wait_for_device_copy()
        self._pending = [(slot, self.client.pull_async(slot.table, slot.values))
                         for slot in self._slots]
        self.synchronize()

    def install_pull_hook(self, module):
        """Run :meth:`synchronize` before every forward pass of `module`.

        Returns the hook's handle (``handle.remove()`` removes it).
        """
        return module.register_forward_pre_hook(lambda _module, _inputs: self.synchronize())

    def close(self):
        """Wait for the round in flight (errors ignored); close the client
        if this optimizer made it."""
        try:
            self.synchronize()
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        finally:
            if getattr(self, "_owns_client", False):
                self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def state_dict(self):
        raise NotImplementedError(
            "the optimizer state (m, v, step) lives on the servers; see docs/python.md")

    # -- internals -------------------------------------------------------------

    def _initializer(self, init, slot, seed):
        if isinstance(init, _core.Initializer):
            return init
        if isinstance(init, dict):
            if slot.name in init:
                return init[slot.name]
            return auto_initializer(slot.table, slot.param, seed)
        if callable(init):
            chosen = init(slot.name, slot.param)
            if not isinstance(chosen, _core.Initializer):
                raise TypeError(f"init({slot.name!r}, ...) returned {type(chosen).__name__}, "
                                f"not an adamasync.Initializer")
            return chosen
        if init == "auto":
            return auto_initializer(slot.table, slot.param, seed)
        raise ValueError(f"init must be 'auto', an Initializer, a dict or a function; "
                         f"got {init!r}")

    def _wait_for_table(self, slot, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                size = self.client.table_size(slot.table)
                break
            except NotFoundError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)
        if size != slot.param.numel():
            raise ValueError(f"table {slot.table!r} has {size} elements, parameter "
                             f"{slot.name!r} has {slot.param.numel()}")

    def _push_then_pull(self, slot, gradient):
        """A Future of the Versions of `slot`'s pull, started once its push
        (if it has a gradient) has been applied."""
        if gradient is None:
            return self.client.pull_async(slot.table, slot.values)
        result = Future()
        result.set_running_or_notify_cancel()

        def pulled(pull):
            try:
                result.set_result(pull.result())
            except BaseException as e:  # noqa: BLE001 - handed to the waiter
                result.set_exception(e)

        def pushed(push):
            # On the client's completion thread: only start the pull here.
            try:
                push.result()
                self.client.pull_async(slot.table, slot.values).add_done_callback(pulled)
            except BaseException as e:  # noqa: BLE001 - handed to the waiter
                result.set_exception(e)

        self.client.push_async(slot.table, gradient, slot.pulled).add_done_callback(pushed)
        return result


class RemoteAdamW(RemoteAdam):
    """torch.optim.AdamW on AdamAsync servers (decoupled weight decay,
    default 1e-2). Arguments as :class:`RemoteAdam`."""

    _algorithm = _core.Algorithm.ADAMW
    _default_weight_decay = 1e-2
