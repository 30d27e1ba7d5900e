"""Stages 4-5: n-gram LMs (KenLM) and the decoding graphs (HLG, LG_pinyin) built from them."""
