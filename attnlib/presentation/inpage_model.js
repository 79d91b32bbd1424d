/* attnlib: type your own text, classified in the page (no kernel, no network).
 *
 * Reads payloads written by attnlib/presentation/inpage_model.py and computes, for a FLAN
 * model (no encoder or BiGRU), what attnlib computes in Python:
 *   - tokens: spaCy's rule-based English tokenizer (attnlib.data.text), ported: whitespace
 *     split, special cases, prefixes, suffixes, infixes, URLs, re-found special cases;
 *   - ids: lowercased lookup, unknown words -> 1;
 *   - h: embeddings (dequantised), then a BiGRU (PyTorch's gate equations; the backward
 *     direction runs over the reversed text) or nothing;
 *   - alpha = softmax(v . tanh(W h + b)), logits = W_out (sum_i alpha_i h_i) + b_out;
 *   - gradient: d p_pred / d alpha_i = p_pred (z_i,pred - sum_c p_c z_i,c), z_i = W_out h_i;
 *   - erasure: zero the chosen alphas, renormalise the rest, recompute the logits
 *     (attnlib.layer.erasure.erased_logits).
 * Explained in the book chapter "Explore a model" (book/explore.ipynb).
 */
(function (global) {
  "use strict";
  if (global.AttnlibInpage) { global.AttnlibInpage.mountAll(); return; }

  // Python's str.isspace(), character by character
  const SPACE = /^[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;
  const isSpace = (ch) => SPACE.test(ch);
  const isSpaceText = (s) => s.length > 0 && Array.from(s).every(isSpace);

  function decode(entry) {
    const bin = atob(entry.b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const view = new DataView(bytes.buffer);  // little-endian on every platform
    const n = entry.shape.reduce((a, b) => a * b, 1);
    if (entry.dtype === "float32") {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    if (entry.dtype === "int16") {
      const out = new Int16Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true);
      return out;
    }
    if (entry.dtype === "int8") return new Int8Array(bytes.buffer);
    throw new Error("attnlib: unknown dtype " + entry.dtype);
  }

  class Tokenizer {
    constructor(data) {
      this.prefix = new RegExp(data.prefix, "u");
      this.suffix = new RegExp(data.suffix, "u");
      this.infix = new RegExp(data.infix, "gu");
      this.url = new RegExp(data.url, "u");
      this.rules = new Map(Object.entries(data.rules));
      this.byFirst = new Map();  // re-found special cases, by their first token
      for (const [key, pattern] of Object.entries(data.rematched)) {
        if (!this.byFirst.has(pattern[0])) this.byFirst.set(pattern[0], []);
        this.byFirst.get(pattern[0]).push(pattern);
      }
    }

    findPrefix(s) { const m = this.prefix.exec(s); return m ? m[0].length : 0; }
    findSuffix(s) { const m = this.suffix.exec(s); return m ? m[0].length : 0; }

    pushRule(key, tokens) { for (const t of this.rules.get(key)) tokens.push({ text: t, space: false }); }

    // spaCy's Tokenizer._tokenize: _split_affixes, then _attach_tokens
    tokenizeSpan(span, tokens) {
      if (this.rules.has(span)) { this.pushRule(span, tokens); return; }
      const prefixes = [], suffixes = [];
      let string = span, lastSize = 0;
      while (string && string.length !== lastSize) {
        if (this.rules.has(string)) break;
        lastSize = string.length;
        const preLen = this.findPrefix(string);
        let prefix = "", minusPre = "", suffix = "", minusSuf = "";
        if (preLen) {
          prefix = string.slice(0, preLen); minusPre = string.slice(preLen);
          if (minusPre && this.rules.has(minusPre)) { string = minusPre; prefixes.push(prefix); break; }
        }
        const sufLen = this.findSuffix(string.slice(preLen));
        if (sufLen) {
          suffix = string.slice(string.length - sufLen); minusSuf = string.slice(0, string.length - sufLen);
          if (minusSuf && this.rules.has(minusSuf)) { string = minusSuf; suffixes.push(suffix); break; }
        }
        if (preLen && sufLen && preLen + sufLen <= string.length) {
          string = string.slice(preLen, string.length - sufLen); prefixes.push(prefix); suffixes.push(suffix);
        } else if (preLen) { string = minusPre; prefixes.push(prefix); }
        else if (sufLen) { string = minusSuf; suffixes.push(suffix); }
      }
      for (const p of prefixes) tokens.push({ text: p, space: false });
      if (string) {
        if (this.rules.has(string)) this.pushRule(string, tokens);
        else if (this.url.test(string)) tokens.push({ text: string, space: false });
        else {
          let start = 0;
          for (const m of string.matchAll(this.infix)) {
            const s = m.index, e = m.index + m[0].length;
            if (s === 0) continue;  // an infix at the very start does not split
            if (s !== start) tokens.push({ text: string.slice(start, s), space: false });
            if (s !== e) tokens.push({ text: string.slice(s, e), space: false });
            start = e;
          }
          if (start < string.length) tokens.push({ text: string.slice(start), space: false });
        }
      }
      for (let i = suffixes.length - 1; i >= 0; i--) tokens.push({ text: suffixes[i], space: false });
    }

    // spaCy's Tokenizer._tokenize_affixes: spans of space / non-space; one ' ' is dropped
    splitAffixes(text) {
      const tokens = [];
      const chars = Array.from(text);
      if (!chars.length) return tokens;
      let inWs = isSpace(chars[0]), start = 0;
      for (let i = 0; i < chars.length; i++) {
        const uc = chars[i];
        if (isSpace(uc) !== inWs) {
          if (start < i) this.tokenizeSpan(chars.slice(start, i).join(""), tokens);
          if (uc === " ") { tokens[tokens.length - 1].space = true; start = i + 1; } else start = i;
          inWs = !inWs;
        }
      }
      if (start < chars.length) {
        this.tokenizeSpan(chars.slice(start).join(""), tokens);
        tokens[tokens.length - 1].space = text.endsWith(" ") && !inWs;
      }
      return tokens;
    }

    // spaCy's Tokenizer._apply_special_cases: special cases that contain affixes, found
    // again in the split tokens; longest first, then leftmost; kept only if unspaced
    applySpecialCases(tokens) {
      const found = new Map();
      tokens.forEach((tok, i) => {
        for (const pattern of this.byFirst.get(tok.text) || []) {
          if (i + pattern.length > tokens.length) continue;
          if (pattern.every((p, j) => tokens[i + j].text === p)) found.set(i + ":" + (i + pattern.length), { start: i, end: i + pattern.length });
        }
      });
      if (!found.size) return tokens;
      const spans = [...found.values()].sort((a, b) => (b.end - b.start) - (a.end - a.start) || a.start - b.start);
      const seen = new Set(), kept = new Map();
      for (const s of spans) {
        if (!seen.has(s.start) && !seen.has(s.end - 1)) kept.set(s.start, s);
        for (let i = s.start; i < s.end; i++) seen.add(i);
      }
      const out = [];
      for (let i = 0; i < tokens.length;) {
        const s = kept.get(i);
        if (!s) { out.push(tokens[i]); i++; continue; }
        let text = "";
        for (let j = s.start; j < s.end; j++) text += tokens[j].text + (j < s.end - 1 && tokens[j].space ? " " : "");
        if (this.rules.has(text)) {
          const start = out.length;
          this.pushRule(text, out);
          out[out.length - 1].space = tokens[s.end - 1].space;
          if (out.length === start) out.push(...tokens.slice(s.start, s.end));
        } else out.push(...tokens.slice(s.start, s.end));
        i = s.end;
      }
      return out;
    }

    /** The library's tokens of ``text`` (whitespace tokens dropped), as attnlib.data.text. */
    tokenize(text) {
      return this.applySpecialCases(this.splitAffixes(text)).map((t) => t.text).filter((t) => !isSpaceText(t));
    }
  }

  class FlanModel {
    constructor(p) {
      this.payload = p;
      this.classes = p.classes;
      this.vocab = new Map(p.vocab.map((w, i) => [w, i]));
      this.unk = p.unk_id;
      this.dim = p.embeddings.shape[1];
      this.emb = decode(p.embeddings);
      this.scale = decode(p.embedding_scale);
      this.w = {};
      for (const [k, v] of Object.entries(p.weights)) this.w[k] = decode(v);
      this.H = p.encoder === "rnn" ? p.weights.forward_weight_hh.shape[1] : 0;
      this.D = p.encoder === "rnn" ? 2 * this.H : this.dim;
      this.C = p.classes.length;
      this.cache = new Map();  // word id * 2 + direction -> b_ih + W_ih x (BiGRU)
      this.A = p.weights.projection_weight.shape[0];
    }

    encode(tokens) { return tokens.map((t) => { const id = this.vocab.get(t.toLowerCase()); return id === undefined ? this.unk : id; }); }

    embed(ids) {
      const d = this.dim, x = new Float64Array(ids.length * d);
      ids.forEach((id, t) => {
        const s = this.scale[id];
        for (let j = 0; j < d; j++) x[t * d + j] = Math.fround(this.emb[id * d + j] * s);
      });
      return x;
    }

    // one GRU direction from a zero state over ids (n) with embeddings x (n x d), writing
    // h_t into out[t * D + offset ...]
    gru(x, ids, dir, reverse, out, offset) {
      const n = ids.length;
      const d = this.dim, wih = this.w[dir + "_weight_ih"], whh = this.w[dir + "_weight_hh"];
      const bih = this.w[dir + "_bias_ih"], bhh = this.w[dir + "_bias_hh"];
      const H = this.H;
      const gh = new Float64Array(3 * H);
      let h = new Float64Array(H), next = new Float64Array(H);
      for (let step = 0; step < n; step++) {
        const t = reverse ? n - 1 - step : step, xo = t * d;
        // the input side depends on the word alone: cached per word id and direction
        const key = ids[t] * 2 + (reverse ? 1 : 0);
        let gx = this.cache.get(key);
        if (!gx) {
          gx = new Float64Array(3 * H);
          for (let r = 0; r < 3 * H; r++) gx[r] = bih[r] + dot(wih, r * d, x, xo, d);
          if (this.cache.size > 50000) this.cache.clear();
          this.cache.set(key, gx);
        }
        for (let r = 0; r < 3 * H; r++) gh[r] = bhh[r] + dot(whh, r * H, h, 0, H);
        for (let j = 0; j < H; j++) {
          const r = 1 / (1 + Math.exp(-(gx[j] + gh[j])));
          const z = 1 / (1 + Math.exp(-(gx[H + j] + gh[H + j])));
          const nn = Math.tanh(gx[2 * H + j] + r * gh[2 * H + j]);
          next[j] = (1 - z) * nn + z * h[j];
        }
        [h, next] = [next, h];
        out.set(h, t * this.D + offset);
      }
    }

    /** Everything the page shows for token ids ``ids``: h (n x D), alpha, z (n x C),
     * bias, logits, probabilities, pred and the gradient ranking. */
    forward(ids) {
      const n = ids.length, D = this.D, C = this.C, A = this.A, w = this.w;
      if (!n) throw new Error("the text has no tokens; type a sentence or two");
      const x = this.embed(ids);
      let h = x;
      if (this.payload.encoder === "rnn") {
        h = new Float64Array(n * D);
        this.gru(x, ids, "forward", false, h, 0);
        this.gru(x, ids, "backward", true, h, D / 2);
      }
      const alpha = new Float64Array(n);
      if (this.payload.uniform) alpha.fill(1 / n);
      else {
        const pw = w.projection_weight, pb = w.projection_bias, v = w.context;
        let top = -Infinity;
        for (let t = 0; t < n; t++) {
          let s = 0;
          for (let a = 0; a < A; a++) s += v[a] * Math.tanh(pb[a] + dot(pw, a * D, h, t * D, D));
          alpha[t] = s; if (s > top) top = s;
        }
        let total = 0;
        for (let t = 0; t < n; t++) { alpha[t] = Math.exp(alpha[t] - top); total += alpha[t]; }
        for (let t = 0; t < n; t++) alpha[t] /= total;
      }
      const z = new Float64Array(n * C), ow = w.output_weight;
      for (let t = 0; t < n; t++) for (let c = 0; c < C; c++) z[t * C + c] = dot(ow, c * D, h, t * D, D);
      const view = { n, C, h, alpha, z, bias: w.output_bias };
      view.probabilities = this.erasedProbabilities(view, new Set());
      view.pred = argmax(view.probabilities);
      const p = view.probabilities, k = view.pred;
      view.gradient = new Float64Array(n);
      for (let t = 0; t < n; t++) {
        let mean = 0;
        for (let c = 0; c < C; c++) mean += p[c] * z[t * C + c];
        view.gradient[t] = p[k] * (z[t * C + k] - mean);
      }
      return view;
    }

    /** Class probabilities after erasing the items in ``erased`` (a Set of indices). */
    erasedProbabilities(view, erased) {
      const { n, C, alpha, z, bias } = view;
      let total = 0;
      for (let t = 0; t < n; t++) if (!erased.has(t)) total += alpha[t];
      const logits = Array.from(bias);
      if (total > 0) for (let t = 0; t < n; t++) {
        if (erased.has(t)) continue;
        const a = alpha[t] / total;
        for (let c = 0; c < C; c++) logits[c] += a * z[t * C + c];
      }
      const top = Math.max(...logits), e = logits.map((l) => Math.exp(l - top));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    }
  }

  // a[ao ..] . b[bo ..] over n entries, four at a time (about twice as fast in V8)
  function dot(a, ao, b, bo, n) {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, j = 0;
    for (; j + 3 < n; j += 4) {
      s0 += a[ao + j] * b[bo + j]; s1 += a[ao + j + 1] * b[bo + j + 1];
      s2 += a[ao + j + 2] * b[bo + j + 2]; s3 += a[ao + j + 3] * b[bo + j + 3];
    }
    for (; j < n; j++) s0 += a[ao + j] * b[bo + j];
    return (s0 + s1) + (s2 + s3);
  }

  const argmax = (xs) => xs.reduce((best, v, i) => (v > xs[best] ? i : best), 0);
  // highest score first; ties keep text order (torch.sort(stable=True))
  const order = (scores) => Array.from(scores, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);

  function el(tag, style, text) {
    const e = document.createElement(tag);
    if (style) e.style.cssText = style;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  class Explorer {
    constructor(root, data) {
      this.root = root;
      this.tokenizer = new Tokenizer(data.tokenizer);
      this.models = data.models.map((p) => new FlanModel(p));
      this.model = this.models[0];
      this.erased = new Set();
      this.build(data.default_text || "");
      this.update();
    }

    build(text) {
      const r = this.root, row = "display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin:6px 0";
      r.replaceChildren();  // the fallback text for pages without JavaScript
      r.style.cssText = "font-family:sans-serif;font-size:14px;max-width:820px;border:1px solid #ccc;border-radius:6px;padding:10px";
      const top = el("div", row);
      if (this.models.length > 1) {
        this.select = el("select", "", undefined);
        this.select.className = "attnlib-inpage-model";
        this.models.forEach((m, i) => { const o = el("option", "", m.payload.label); o.value = i; this.select.append(o); });
        this.select.addEventListener("change", () => { this.model = this.models[+this.select.value]; this.update(); });
        top.append(el("label", "", "Model "), this.select);
      } else top.append(el("span", "font-weight:600", this.models[0].payload.label));
      this.textarea = el("textarea", "width:100%;box-sizing:border-box;font-size:14px", undefined);
      this.textarea.className = "attnlib-inpage-text";
      this.textarea.rows = 3; this.textarea.value = text;
      let timer = null;
      this.textarea.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => this.update(), 150); });
      this.tokensDiv = el("div", "margin:8px 0;line-height:2");
      this.tokensDiv.className = "attnlib-inpage-tokens";
      const controls = el("div", row);
      this.ranking = el("select", "", undefined);
      this.ranking.className = "attnlib-inpage-ranking";
      for (const [v, label] of [["attention", "attention"], ["gradient", "gradient"]]) { const o = el("option", "", label); o.value = v; this.ranking.append(o); }
      this.k = el("input", "width:4em", undefined);
      this.k.type = "number"; this.k.min = 0; this.k.value = 1; this.k.className = "attnlib-inpage-k";
      const erase = el("button", "", "Erase top k"), restore = el("button", "", "Restore all");
      erase.className = "attnlib-inpage-erase"; restore.className = "attnlib-inpage-restore";
      erase.addEventListener("click", () => this.eraseTop());
      restore.addEventListener("click", () => { this.erased.clear(); this.render(); });
      controls.append(el("span", "", "Erase the top"), this.k, el("span", "", "words by"), this.ranking, erase, restore);
      this.probsDiv = el("div", "margin:6px 0");
      this.probsDiv.className = "attnlib-inpage-probs";
      this.status = el("div", "font-weight:bold;margin-top:4px");
      this.status.className = "attnlib-inpage-status";
      r.append(top, this.textarea, controls, this.tokensDiv, this.probsDiv, this.status,
        el("div", "font-size:0.8em;color:#555;margin-top:4px",
          "Shading and small numbers: attention weight (darker = more). Click a word to erase or restore it. " +
          "Dashed underline: not in the model's vocabulary (read as the unknown word)."));
    }

    /** Tokens, ids and the forward pass of ``text`` under model ``index`` (for tests too). */
    classify(text, index) {
      const model = index === undefined ? this.model : this.models[index];
      const tokens = this.tokenizer.tokenize(text);
      const ids = model.encode(tokens);
      return { tokens, ids, view: tokens.length ? model.forward(ids) : null, model };
    }

    update() {
      this.erased.clear();
      this.current = this.classify(this.textarea.value);
      this.render();
    }

    eraseTop() {
      const view = this.current.view;
      if (!view) return;
      const scores = this.ranking.value === "gradient" ? view.gradient : view.alpha;
      const k = Math.max(0, Math.min(view.n, Math.floor(+this.k.value || 0)));
      this.erased = new Set(order(scores).slice(0, k));
      this.render();
    }

    render() {
      const { tokens, ids, view, model } = this.current;
      this.tokensDiv.replaceChildren(); this.probsDiv.replaceChildren();
      if (!view) { this.status.textContent = "Type a sentence or two."; this.status.style.color = "#555"; return; }
      const top = Math.max(...view.alpha);
      tokens.forEach((t, i) => {
        const erased = this.erased.has(i), a = view.alpha[i] / top;
        const s = el("span", `background:rgba(76,120,168,${(0.85 * a).toFixed(3)});padding:1px 3px;margin:0 2px;border-radius:3px;cursor:pointer` +
          (erased ? ";text-decoration:line-through;opacity:0.4" : "") + (ids[i] === model.unk ? ";border-bottom:2px dashed #999" : ""), t);
        s.className = "attnlib-inpage-token" + (erased ? " erased" : "");
        s.title = `alpha ${view.alpha[i].toFixed(4)} | gradient ${view.gradient[i].toExponential(3)}`;
        s.addEventListener("click", () => { if (this.erased.has(i)) this.erased.delete(i); else this.erased.add(i); this.render(); });
        const w = el("span", "font-size:0.7em;color:#555;vertical-align:super;margin-right:2px",
          view.alpha[i].toFixed(3));  // the attention weight, readable without hovering
        w.className = "attnlib-inpage-alpha";
        this.tokensDiv.append(s, w);
      });
      const probs = model.erasedProbabilities(view, this.erased);
      probs.forEach((p, c) => {
        const line = el("div", "display:flex;align-items:center;gap:8px;margin:2px 0");
        const bar = el("div", "width:240px;height:14px;background:#eee;position:relative");
        bar.append(el("div", `width:${(240 * p).toFixed(1)}px;height:14px;background:#4c78a8`),
          el("div", `position:absolute;top:-2px;left:${(240 * view.probabilities[c]).toFixed(1)}px;width:2px;height:18px;background:black`));
        const label = el("span", "font-family:monospace", `${model.classes[c]}: ${p.toFixed(6)}`);
        label.className = "attnlib-inpage-prob";
        label.dataset.value = String(p);
        line.append(bar, label);
        this.probsDiv.append(line);
      });
      const flipped = argmax(probs) !== view.pred;
      const unknown = ids.filter((id) => id === model.unk).length;
      const now = argmax(probs);
      this.status.textContent = `predicted: ${model.classes[now]} (${probs[now].toFixed(3)})` +
        (flipped ? ` | DECISION FLIPPED from ${model.classes[view.pred]}` : " | decision unchanged") +
        ` | erased ${this.erased.size} of ${view.n} words | ${unknown} unknown`;
      this.status.style.color = flipped ? "#c0392b" : "#2d6a2d";
    }
  }

  const instances = {};
  function mountAll() {
    for (const root of document.querySelectorAll(".attnlib-inpage[data-key]")) {
      const key = root.dataset.key;
      if (instances[key]) continue;
      const data = JSON.parse(root.querySelector("script.attnlib-inpage-data").textContent);
      const host = root.querySelector(".attnlib-inpage-ui");
      try { instances[key] = new Explorer(host, data); } catch (e) { host.textContent = "attnlib: " + e.message; throw e; }
    }
  }

  global.AttnlibInpage = { Tokenizer, FlanModel, Explorer, instances, mountAll, order, decode };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})(window);
