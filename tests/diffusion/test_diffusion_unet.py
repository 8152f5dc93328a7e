"""The U-Net denoiser."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gentk.errors import RecipeError
from gentk.interfaces import BuildContext, DataInfo
from gentk.recipe import resolve_component

from .diffusion_helpers import TINY_UNET


def unet(num_classes=0, channels=1, size=8, **options):
    spec = resolve_component("denoiser", {**TINY_UNET, **options})
    return spec.build(BuildContext(DataInfo((channels, size, size), num_classes=num_classes)))


@settings(max_examples=12)
@given(st.integers(3, 29), st.sampled_from([1, 3]), st.booleans())
def test_shapes_are_kept_for_any_size(size, channels, channels_last):
    net = unet(channels=channels, size=size, channels_last=channels_last, attention_resolutions=[size, (size + 1) // 2])
    x = torch.randn(2, channels, size, size)
    out = net(x, torch.tensor([0, 999]))
    assert out.shape == x.shape


def test_mnist_sized_reference_unet_has_6_5m_parameters():
    spec = resolve_component("denoiser", "unet")
    net = spec.build(BuildContext(DataInfo((1, 28, 28), num_classes=10)))
    assert 6.3e6 < sum(p.numel() for p in net.parameters()) < 6.7e6
    assert sum(isinstance(m, torch.nn.Module) and type(m).__name__ == "SelfAttention" for m in net.modules()) >= 3
    out = net(torch.randn(2, 1, 28, 28), torch.tensor([5, 500]), torch.tensor([3, 10]))
    assert out.shape == (2, 1, 28, 28)


def test_class_embedding_has_a_null_token_and_changes_the_output():
    net = unet(num_classes=3)
    for p in net.parameters():  # leave the zero-initialised output layers random
        torch.nn.init.normal_(p, std=0.1)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 3])
    null = torch.full((2,), 3)
    assert net.class_emb.num_embeddings == 4
    assert torch.allclose(net(x, t, None), net(x, t, null))
    assert not torch.allclose(net(x, t, torch.tensor([0, 1])), net(x, t, null))


@pytest.mark.parametrize("backend", ["default", "math"])
def test_attention_backends_agree(backend):
    torch.manual_seed(0)
    a = unet(attention_backend="math", attention_resolutions=[8, 4])
    for p in a.parameters():
        torch.nn.init.normal_(p, std=0.1)
    b = unet(attention_backend=backend, attention_resolutions=[8, 4])
    b.load_state_dict(a.state_dict())
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([1, 2])
    assert torch.allclose(a(x, t), b(x, t), atol=1e-5)


def test_widths_must_divide_into_groups():
    with pytest.raises(RecipeError):
        resolve_component("denoiser", {"use": "unet", "channels": 20, "norm_groups": 8})
