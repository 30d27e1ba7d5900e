// Tonal pinyin: numbered syllables (ni3, lv4, de5) <-> tone marks (nǐ, lǜ, de), and characters shown
// with their pinyin under them (<ruby>).
"use strict";
const AsrtPinyin = (() => {
  const MARKS = {
    a: "āáǎà", e: "ēéěè", i: "īíǐì", o: "ōóǒò", u: "ūúǔù", "ü": "ǖǘǚǜ",
  };
  const UNMARK = {};
  for (const [vowel, marked] of Object.entries(MARKS)) {
    [...marked].forEach((m, k) => { UNMARK[m] = [vowel, k + 1]; });
  }

  // "lv4" -> "lǜ": the mark goes on a or e, on the o of "ou", else on the last vowel.
  function withMark(syllable) {
    const m = /^([a-zü:v]+)([1-5])$/i.exec(syllable);
    if (!m) return syllable;
    const base = m[1].toLowerCase().replace(/v|u:/g, "ü");
    const tone = Number(m[2]);
    if (tone === 5) return base;
    let at = base.search(/[ae]/);
    if (at < 0) at = base.indexOf("ou");
    if (at < 0) {
      for (let k = base.length - 1; k >= 0; k--) if ("iouü".includes(base[k])) { at = k; break; }
    }
    if (at < 0) return syllable;
    return base.slice(0, at) + MARKS[base[at]][tone - 1] + base.slice(at + 1);
  }

  // "nǐ" -> "ni3", "lǜ" -> "lv3" (the server's spelling), "de" -> "de5"; numbered syllables pass.
  function withNumber(syllable) {
    if (/[1-5]$/.test(syllable)) return syllable.replace(/ü/g, "v");
    let tone = 5;
    const plain = [...syllable.toLowerCase()].map((c) => {
      if (UNMARK[c]) { tone = UNMARK[c][1]; return UNMARK[c][0]; }
      return c;
    }).join("");
    return plain.replace(/ü/g, "v") + tone;
  }

  function show(syllable, marks) {
    return marks ? withMark(syllable) : syllable;
  }

  // Characters with their pinyin under them: one <ruby> per character when they pair one to one,
  // else the whole text over the whole pinyin.
  function ruby(text, pinyin, marks) {
    const chars = [...text];
    const out = document.createElement("span");
    out.className = "ruby-text";
    out.lang = "zh";
    const pairs = chars.length === pinyin.length ? chars.map((c, k) => [c, [pinyin[k]]]) : [[text, pinyin]];
    for (const [chunk, syllables] of pairs) {
      const r = document.createElement("ruby");
      r.append(chunk);
      const rt = document.createElement("rt");
      rt.lang = "zh-Latn";
      rt.dataset.pinyin = syllables.join(" ");
      rt.textContent = syllables.map((s) => show(s, marks)).join(" ");
      r.append(rt);
      out.append(r);
    }
    return out;
  }

  // Re-render every <rt> of the page after the tone toggle changed.
  function restyle(root, marks) {
    for (const rt of root.querySelectorAll("rt[data-pinyin]")) {
      rt.textContent = rt.dataset.pinyin.split(" ").filter(Boolean).map((s) => show(s, marks)).join(" ");
    }
  }

  return { withMark, withNumber, ruby, restyle };
})();
