"""Save any network, with its optimiser state, and load it back only into the same architecture.

One ``.npz`` file (written atomically by :func:`nertag.files.write_npz`, read without pickle) holds:

* ``architecture``: JSON text describing the network: the parameter dtype and a tree of layers, each with
  its type, its hyperparameters (the public scalar attributes a constructor set: sizes, activation, rate,
  window...) and its parameters' names and shapes, children nested in order;
* ``param/<index>.<Layer>.<name>``: every parameter, named as :meth:`ParamBuffer.named` names them;
* with an optimiser, ``optimizer``: JSON text of its type and hyperparameters, and ``optim/<key>`` its
  :meth:`~nertag.net.optim.Optimizer.state_dict` (step count and slots).

Loading compares the file's description with the network's and refuses the first difference by name
("layer 2 (Dense) activation: file has tanh, network has relu"), so a tanh network never silently loads
into a relu one, nor float64 weights into a float32 buffer. The optimiser's schedule is code, not saved:
the caller builds the same one, and the restored step count puts it where it was.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..files import read_npz, write_npz
from .layer import Layer
from .optim import Optimizer

FORMAT = 1
# Attributes that choose an implementation, not the function computed: never part of an architecture.
_NOT_ARCHITECTURE = {"kernel"}


def _scalar(value):
    """``value`` as a JSON scalar, or None when it is not a plain number, text or flag."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return value
    return None


def _hyperparameters(obj, skip=()) -> dict:
    out = {}
    for name, value in sorted(vars(obj).items()):
        if name.startswith("_") or name in _NOT_ARCHITECTURE or name in skip:
            continue
        scalar = _scalar(value)
        if scalar is not None:
            out[name] = scalar
    return out


def _describe_layer(layer: Layer) -> dict:
    return {"type": type(layer).__name__, "config": _hyperparameters(layer),
            "params": {spec.name: list(spec.shape) for spec in layer.specs},
            "children": [_describe_layer(child) for child in layer.children]}


def parameters(network: Layer) -> dict[str, np.ndarray]:
    """The parameter views of ``network`` keyed ``"<index>.<Layer>.<name>"`` (index in walk order)."""
    named = {f"{i}.{type(layer).__name__}.{spec.name}": layer.p.get(spec.name)
             for i, layer in enumerate(network.walk()) for spec in layer.specs}
    unbound = [name for name, view in named.items() if view is None]
    if unbound:
        raise ValueError(f"parameter {unbound[0]} is not bound: give the network a ParamBuffer first")
    return named


def describe(network: Layer) -> dict:
    """The architecture of ``network`` (bound to a buffer), as JSON-ready data."""
    views = list(parameters(network).values())
    dtype = str(views[0].dtype) if views else "none"
    return {"format": FORMAT, "dtype": dtype, "network": _describe_layer(network)}


def describe_optimizer(optimizer: Optimizer) -> dict:
    """The optimiser's type and hyperparameters (not its schedule, not its buffer)."""
    return {"type": type(optimizer).__name__, "config": _hyperparameters(optimizer, skip=("t", "last_grad_norm"))}


def _flatten(node: dict, out: list) -> list:
    """The layers of a description depth first, the order of :meth:`Layer.walk` and of the parameter names."""
    out.append(node)
    for child in node["children"]:
        _flatten(child, out)
    return out


def first_difference(saved: dict, current: dict) -> str | None:
    """The first way the described architecture ``saved`` (the file's) differs from ``current``, or None."""
    if saved.get("dtype") != current["dtype"]:
        return f"dtype: file has {saved.get('dtype')}, network has {current['dtype']}"
    ours, theirs = _flatten(current["network"], []), _flatten(saved["network"], [])
    for i, (file_layer, layer) in enumerate(zip(theirs, ours)):
        where = f"layer {i}"
        if file_layer["type"] != layer["type"]:
            return f"{where}: file has {file_layer['type']}, network has {layer['type']}"
        where += f" ({layer['type']})"
        if len(file_layer["children"]) != len(layer["children"]):
            return (f"{where}: file has {len(file_layer['children'])} child layers, network has "
                    f"{len(layer['children'])}")
        for key in sorted(set(file_layer["config"]) | set(layer["config"])):
            a, b = file_layer["config"].get(key, "nothing"), layer["config"].get(key, "nothing")
            if a != b:
                return f"{where} {key}: file has {a}, network has {b}"
        for name in sorted(set(file_layer["params"]) | set(layer["params"])):
            a, b = file_layer["params"].get(name), layer["params"].get(name)
            if a != b:
                shape = lambda s: "no such parameter" if s is None else f"shape {tuple(s)}"  # noqa: E731
                return f"{where} parameter {name}: file has {shape(a)}, network has {shape(b)}"
    if len(theirs) != len(ours):
        return f"number of layers: file has {len(theirs)}, network has {len(ours)}"
    return None


def _check_optimizer(network: Layer, optimizer: Optimizer) -> None:
    if optimizer.buffer.root is not network:
        raise ValueError("the optimiser updates the parameters of another network")


def save(path, network: Layer, optimizer: Optimizer | None = None) -> None:
    """Write ``network``'s architecture and parameters (and ``optimizer``'s state) to ``path`` atomically."""
    arrays = {"architecture": np.array(json.dumps(describe(network)))}
    arrays.update({f"param/{name}": value for name, value in parameters(network).items()})
    if optimizer is not None:
        _check_optimizer(network, optimizer)
        arrays["optimizer"] = np.array(json.dumps(describe_optimizer(optimizer)))
        arrays.update({f"optim/{key}": value for key, value in optimizer.state_dict().items()})
    write_npz(path, arrays)


def _json_entry(arrays: dict, key: str, path: Path):
    if key not in arrays or arrays[key].dtype.kind != "U" or arrays[key].shape != ():
        raise ModelError(f"{path}: not a saved network: no {key} description")
    try:
        return json.loads(str(arrays[key]))
    except ValueError as e:
        raise ModelError(f"{path}: damaged {key} description ({e})") from None


def load(path, network: Layer, optimizer: Optimizer | None = None) -> None:
    """Read ``path`` into ``network``'s parameters (and ``optimizer``), refusing another architecture or
    optimiser. ``network`` is built and bound to a buffer of the dtype wanted first, as for training.

    Raises :class:`~nertag.errors.ModelError` naming the file and the first difference; nothing is
    changed unless everything matches.
    """
    path = Path(path)
    arrays = read_npz(path, "saved network")
    saved = _json_entry(arrays, "architecture", path)
    if saved.get("format") != FORMAT:
        raise ModelError(f"{path}: saved network format {saved.get('format')}, this nertag reads {FORMAT}")
    if optimizer is not None:
        _check_optimizer(network, optimizer)
    difference = first_difference(saved, describe(network))
    if difference is not None:
        raise ModelError(f"{path}: the saved network differs: {difference}")
    named = parameters(network)
    missing = [name for name in named if f"param/{name}" not in arrays]
    if missing:
        raise ModelError(f"{path}: damaged saved network: no parameter {missing[0]}")
    state = None
    if optimizer is not None:
        if "optimizer" not in arrays:
            raise ModelError(f"{path}: no optimiser state was saved with this network")
        saved_opt, ours = _json_entry(arrays, "optimizer", path), describe_optimizer(optimizer)
        if saved_opt["type"] != ours["type"]:
            raise ModelError(f"{path}: optimiser: file has {saved_opt['type']}, this run has {ours['type']}")
        cycled = getattr(optimizer.schedule, "momentum_at", lambda t: None)(0) is not None
        for key in sorted(set(saved_opt["config"]) | set(ours["config"])):
            a, b = saved_opt["config"].get(key, "nothing"), ours["config"].get(key, "nothing")
            if a != b and not (cycled and key == optimizer.cycled):  # a step's value of the cycle
                raise ModelError(f"{path}: optimiser {key}: file has {a}, this run has {b}")
        state = {key[len("optim/"):]: value for key, value in arrays.items() if key.startswith("optim/")}
    for name, view in named.items():
        view[...] = arrays[f"param/{name}"]
    if state is not None:
        try:
            optimizer.load_state_dict(state)
        except ValueError as e:
            raise ModelError(f"{path}: optimiser state: {e}") from None
