"""Independent PyTorch reference of IPT (Image Processing Transformer), written from /work/shared/SPEC.md.

Not the authors' code: a functional implementation over the checkpoint's state dict (torch 1.13 API).
It checks the key set strictly, infers the config from tensor shapes (SPEC §2; heads must be passed), and
offers, for any task index i (head/tail/query row):

    model.forward(x, i)      batch of P×P tiles [B,3,P,P] -> [B,3,P·s,P·s]          (SPEC §1)
    model.chop(x, i)         the authors' test-time tiler (forward_chop), all tiles batched (SPEC §3)
    model.x8(x, i)           the 8-way self-ensemble around chop (forward_x8); float, not rounded
    quantize(y)              clamp to [0,255] and round half to even

Values are 0..255 floats. Use /usr/bin/python3 (Debian torch). Example:

    /usr/bin/python3 scripts/ipt_ref.py /work/shared/fixtures/ipt-tiny/model.pt --heads 4
"""
import argparse
import math
import re

import torch
import torch.nn.functional as F

IGNORED_KEYS = {"body.position_encoding.position_ids"}


def load_state_dict(path):
    sd = torch.load(path, map_location="cpu")
    return {k: v for k, v in sd.items() if k not in IGNORED_KEYS}


class IPT:
    def __init__(self, sd, num_heads=12):
        self.sd = {k: v.float() for k, v in sd.items() if k not in IGNORED_KEYS}
        self.heads = num_heads
        keys = set(self.sd)
        self.C = self.sd["head.0.0.weight"].shape[0]
        self.L, self.d = self.sd["body.position_encoding.pe.weight"].shape
        self.p = math.isqrt(self.d // self.C)
        self.P = self.p * math.isqrt(self.L)
        assert self.p * self.p * self.C == self.d and (self.P // self.p) ** 2 == self.L, "inconsistent shapes"
        assert self.d % num_heads == 0, "d must be divisible by num_heads"
        count = lambda pat: len({m.group(1) for k in keys for m in [re.match(pat, k)] if m})
        self.n_tasks = count(r"head\.(\d+)\.0\.weight$")
        self.n_enc = count(r"body\.encoder\.layers\.(\d+)\.")
        self.n_dec = count(r"body\.decoder\.layers\.(\d+)\.")
        self.scales = []
        for t in range(self.n_tasks):
            w = self.sd.get(f"tail.{t}.0.0.weight")
            if w is None:
                s = 1
            elif w.shape[0] == 9 * self.C:
                s = 3
            else:
                s = 4 if f"tail.{t}.0.2.weight" in keys else 2
            self.scales.append(s)
        assert self.sd["body.query_embed.weight"].shape == (self.n_tasks, self.L * self.d)
        missing, unexpected = self.expected_keys() - keys, keys - self.expected_keys()
        if missing or unexpected:
            raise ValueError(f"checkpoint keys: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")

    def expected_keys(self):
        ks = {f"{m}_mean.{wb}" for m in ("sub", "add") for wb in ("weight", "bias")}
        for t, s in enumerate(self.scales):
            ks |= {f"head.{t}.0.weight", f"head.{t}.0.bias", f"tail.{t}.1.weight", f"tail.{t}.1.bias"}
            ks |= {f"head.{t}.{r}.body.{c}.{wb}" for r in (1, 2) for c in (0, 2) for wb in ("weight", "bias")}
            ks |= {f"tail.{t}.0.{c}.{wb}" for c in ((0, 2) if s == 4 else (0,) if s > 1 else ()) for wb in ("weight", "bias")}
        b = "body."
        ks |= {b + n + wb for n in ("linear_encoding.", "mlp_head.0.", "mlp_head.3.") for wb in ("weight", "bias")}
        ks |= {b + "query_embed.weight", b + "position_encoding.pe.weight"}
        for stack, n, attns, norms in (("encoder", self.n_enc, ("self_attn",), 2), ("decoder", self.n_dec, ("self_attn", "multihead_attn"), 3)):
            for i in range(n):
                pre = f"{b}{stack}.layers.{i}."
                ks |= {pre + a + s for a in attns for s in (".in_proj_weight", ".out_proj.weight")}
                ks |= {pre + f"{lin}.{wb}" for lin in ["linear1", "linear2"] + [f"norm{j + 1}" for j in range(norms)] for wb in ("weight", "bias")}
        return ks

    # ---- building blocks -------------------------------------------------------------------------
    def conv(self, x, name):
        w = self.sd[name + ".weight"]
        return F.conv2d(x, w, self.sd[name + ".bias"], padding=w.shape[-1] // 2)

    def linear(self, x, name):
        return x @ self.sd[name + ".weight"].t() + self.sd[name + ".bias"]

    def norm(self, x, name):
        return F.layer_norm(x, (self.d,), self.sd[name + ".weight"], self.sd[name + ".bias"], 1e-5)

    def attn(self, q, k, v, name):
        """Multi-head attention, no biases; tokens are [B, L, d]."""
        wq, wk, wv = self.sd[name + ".in_proj_weight"].chunk(3, dim=0)
        B, Lq, d = q.shape
        h, dh = self.heads, d // self.heads
        split = lambda t: t.reshape(B, -1, h, dh).transpose(1, 2)  # [B, h, L, dh]
        Q = split(q @ wq.t() / math.sqrt(dh))  # scaled before the product, as torch's MultiheadAttention does
        K, V = split(k @ wk.t()), split(v @ wv.t())
        A = torch.softmax(Q @ K.transpose(-1, -2), dim=-1)
        O = (A @ V).transpose(1, 2).reshape(B, Lq, d)
        return O @ self.sd[name + ".out_proj.weight"].t()

    def ffn(self, x, pre):
        return self.linear(torch.relu(self.linear(x, pre + "linear1")), pre + "linear2")

    def body(self, f, task, debug=None):
        B, C, P, _ = f.shape
        p, g = self.p, P // self.p
        # unfold: token n = gy*g + gx, feature = c*p*p + ky*p + kx
        x = f.reshape(B, C, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(B, g * g, C * p * p)
        x = self.linear(x, "body.linear_encoding") + x
        q = self.sd["body.query_embed.weight"][task].reshape(self.L, self.d)
        s = x + self.sd["body.position_encoding.pe.weight"]
        for i in range(self.n_enc):  # pre-norm encoder
            pre = f"body.encoder.layers.{i}."
            s2 = self.norm(s, pre + "norm1")
            s = s + self.attn(s2, s2, s2, pre + "self_attn")
            s = s + self.ffn(self.norm(s, pre + "norm2"), pre)
        m, t = s, s  # the encoder output is both the decoder input and its memory
        for i in range(self.n_dec):  # pre-norm decoder
            pre = f"body.decoder.layers.{i}."
            t2 = self.norm(t, pre + "norm1")
            t = t + self.attn(t2 + q, t2 + q, t2, pre + "self_attn")
            t2 = self.norm(t, pre + "norm2")
            t = t + self.attn(t2 + q, m, m, pre + "multihead_attn")
            t = t + self.ffn(self.norm(t, pre + "norm3"), pre)
        if debug is not None:
            debug["decoder"] = t  # [B, L, d]: the tokens the contrastive loss (paper Eq. 5) compares
        x = self.linear(torch.relu(self.linear(t, "body.mlp_head.0")), "body.mlp_head.3") + t
        return x.reshape(B, g, g, C, p, p).permute(0, 3, 1, 4, 2, 5).reshape(B, C, P, P)

    def head(self, x, task):
        f = self.conv(x, f"head.{task}.0")
        for r in (1, 2):
            pre = f"head.{task}.{r}.body."
            f = f + self.conv(torch.relu(self.conv(f, pre + "0")), pre + "2")
        return f

    def tail(self, r, task):
        s = self.scales[task]
        ups = [(0, 2), (2, 2)] if s == 4 else [(0, s)] if s > 1 else []
        for idx, factor in ups:
            r = F.pixel_shuffle(self.conv(r, f"tail.{task}.0.{idx}"), factor)
        return self.conv(r, f"tail.{task}.1")

    @torch.no_grad()
    def forward(self, x, task, debug=None):
        """x: [B,3,P,P] 0..255 -> [B,3,P·s,P·s]. debug: optional dict receiving 'head', 'body' and 'decoder'."""
        return self.forward_grad(x, task, debug)

    def forward_grad(self, x, task, debug=None):
        """forward with autograd on (for training): the state dict's tensors may require grad."""
        assert x.shape[-2:] == (self.P, self.P), f"tiles must be {self.P}x{self.P}"
        x = self.conv(x, "sub_mean")
        f = self.head(x, task)
        b = self.body(f, task, debug)
        if debug is not None:
            debug["head"], debug["body"] = f, b
        return self.conv(self.tail(b + f, task), "add_mean")

    # ---- the authors' tiler (SPEC §3) --------------------------------------------------------------
    @torch.no_grad()
    def run_tiles(self, tiles, task, batch=None):
        if batch is None:
            return self.forward(tiles, task)
        return torch.cat([self.forward(tiles[i:i + batch], task) for i in range(0, len(tiles), batch)])

    def _strip(self, outs, length, s):
        """outs: [n,B,3,Ps,Ps] tile outputs along the last axis at stride t; returns [B,3,Ps,length*s]."""
        P, t = self.P, self.P // 4
        Ps, ts = P * s, t * s
        acc = outs.new_zeros(outs.shape[1:-1] + (length * s,))
        cen, cnt = torch.zeros_like(acc), torch.zeros(length * s)
        for k, o in enumerate(outs):
            a = k * ts
            acc[..., a:a + Ps] += o
            cen[..., a + ts:a + Ps - ts] += o[..., ts:Ps - ts]
            cnt[a + ts:a + Ps - ts] += 1
        acc[..., ts:length * s - ts] = cen[..., ts:length * s - ts] / cnt[ts:length * s - ts]
        return acc

    @torch.no_grad()
    def chop(self, x, task, batch=None):
        """forward_chop: x [B,3,h,w], h,w >= P -> [B,3,h·s,w·s]. All tiles of all parts in one batch
        (or chunks of `batch` tiles).

        What reaches the output (checked numerically; ts = t·s, Ps = P·s, A = H·s−a, A′ = W·s−a′):
          rows [0,ts)  × cols [0,min(Ps,A′)): tile (0,0) itself (the left strip, written after the top one)
          rows [0,ts)  × cols [Ps,A′):        top strip (its along-width band average)
          rows [ts,A)  × cols [0,ts):         left strip (its along-height band average)
          rows [ts,A)  × cols [ts,A′):        centre: average of the grid tiles' central crops
          rows [A,h·s) × cols [0,A′):         bottom strip rows [b,Ps)
          rows [0,A)   × cols [A′,w·s):       right strip cols [b′,Ps)
          rows [A,h·s) × cols [A′,w·s):       corner tile [b,Ps)×[b′,Ps)
        The raw grid sums and the strips' raw ends never survive. Top/left strip tiles = grid row/col 0."""
        P, t, s = self.P, self.P // 4, self.scales[task]
        B, _, h, w = x.shape
        if h < P or w < P:
            raise ValueError(f"the authors' tiler needs h, w >= {P}; got {h}x{w}")
        hc, wc = (h - P) % t, (w - P) % t
        H, W = h - hc, w - wc
        ni, nj = (h - P) // t + 1, (w - P) // t + 1
        # every tile origin: grid, top/bottom rows (along width), left/right columns (along height), corner
        grid = [(i * t, j * t) for i in range(ni) for j in range(nj)]
        top = [(0, j * t) for j in range(nj)]
        bottom = [(h - P, j * t) for j in range(nj)]
        left = [(i * t, 0) for i in range(ni)]
        right = [(i * t, w - P) for i in range(ni)]
        corner = [(h - P, w - P)]
        origins = list(dict.fromkeys(grid + top + bottom + left + right + corner))  # top/left repeat grid tiles
        tiles = torch.stack([x[:, :, a:a + P, b:b + P] for a, b in origins])  # [n,B,3,P,P]
        outs = self.run_tiles(tiles.reshape(-1, 3, P, P), task, batch)
        outs = outs.reshape(len(origins), B, 3, P * s, P * s)
        M = {o: outs[k] for k, o in enumerate(origins)}

        Ps, ts = P * s, t * s
        # steps 2 and 5: grid sum, then the centre replaced by the average of the tiles' central crops
        y = x.new_zeros(B, 3, H * s, W * s)
        cen, cnt = torch.zeros_like(y), torch.zeros(H * s, W * s)
        for a, b in grid:
            o = M[(a, b)]
            y[..., a * s:a * s + Ps, b * s:b * s + Ps] += o
            cen[..., a * s + ts:a * s + Ps - ts, b * s + ts:b * s + Ps - ts] += o[..., ts:Ps - ts, ts:Ps - ts]
            cnt[a * s + ts:a * s + Ps - ts, b * s + ts:b * s + Ps - ts] += 1
        # step 3: strips (vertical ones computed transposed)
        along_w = lambda org: self._strip(torch.stack([M[o] for o in org]), W, s)
        along_h = lambda org: self._strip(torch.stack([M[o].transpose(-1, -2) for o in org]), H, s).transpose(-1, -2)
        y_top, y_bottom, y_left, y_right = along_w(top), along_w(bottom), along_h(left), along_h(right)
        # step 4, then step 5
        y[..., :Ps, :] = y_top
        y[..., :, :Ps] = y_left
        y[..., ts:H * s - ts, ts:W * s - ts] = cen[..., ts:H * s - ts, ts:W * s - ts] / cnt[ts:H * s - ts, ts:W * s - ts]
        # step 6: stitch
        a, b = int((P - hc) * s / 2), int((P - hc) * s / 2 + 0.5)
        a2, b2 = int((P - wc) * s / 2), int((P - wc) * s / 2 + 0.5)
        y = torch.cat([y[..., :H * s - a, :], y_bottom[..., b:, :]], dim=2)
        right = torch.cat([y_right[..., :H * s - a, :], M[corner[0]][..., b:, :]], dim=2)
        return torch.cat([y[..., :W * s - a2], right[..., b2:]], dim=3)

    @torch.no_grad()
    def x8(self, x, task, batch=None):
        """Self-ensemble: x, v(x), h(x), h(v(x)), then their transposes; each through chop; inverted; mean."""
        v = lambda z: z.flip(-1)
        hf = lambda z: z.flip(-2)
        tr = lambda z: z.transpose(-1, -2)
        ins = [x, v(x)]
        ins += [hf(z) for z in ins]
        ins += [tr(z) for z in ins]
        ys = []
        for i, z in enumerate(ins):
            y = self.chop(z.contiguous(), task, batch)
            if i > 3:
                y = tr(y)
            if i % 4 in (2, 3):
                y = hf(y)
            if i % 2 == 1:
                y = v(y)
            ys.append(y)
        return torch.stack(ys).mean(0)


def quantize(y):
    """Clamp to [0,255] and round half to even, as the authors' quantize()."""
    return y.clamp(0, 255).round()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--heads", type=int, default=12)
    args = ap.parse_args()
    m = IPT(load_state_dict(args.checkpoint), args.heads)
    nparam = sum(v.numel() for v in m.sd.values())
    print(f"C={m.C} P={m.P} p={m.p} d={m.d} L={m.L} heads={m.heads} enc={m.n_enc} dec={m.n_dec} "
          f"scales={m.scales} params={nparam:,}")
