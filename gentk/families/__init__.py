"""Family protocols: what a model family calls on its parts, declared once in the core.

Each module holds one family's protocols: the kinds only that family uses (an encoder, a
critic, a noise schedule) and the capabilities a slot can ask for among the components of a
shared kind (an adversarial objective among objectives, a diffusion sampler among samplers).
Bundled and third-party plugins implement them; `provides=` at registration declares them.
"""
