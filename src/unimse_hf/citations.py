"""BibTeX of the UniMSE paper and of the corpora it is trained on, for dataset and model cards."""

#: ``"unimse"`` and each corpus name -> its BibTeX entries
CITATIONS: dict[str, str] = {
    "unimse": """@inproceedings{hu2022unimse,
  title = {{UniMSE}: Towards Unified Multimodal Sentiment Analysis and Emotion Recognition},
  author = {Hu, Guimin and Lin, Ting-En and Zhao, Yi and Lu, Guangming and Wu, Yuchuan and Li, Yongbin},
  booktitle = {Proceedings of the 2022 Conference on Empirical Methods in Natural Language Processing},
  pages = {7837--7851},
  year = {2022}
}""",
    "mosi": """@article{zadeh2016mosi,
  title = {Multimodal Sentiment Intensity Analysis in Videos: Facial Gestures and Verbal Messages},
  author = {Zadeh, Amir and Zellers, Rowan and Pincus, Eli and Morency, Louis-Philippe},
  journal = {IEEE Intelligent Systems},
  volume = {31}, number = {6}, pages = {82--88},
  year = {2016}
}""",
    "mosei": """@inproceedings{zadeh2018mosei,
  title = {Multimodal Language Analysis in the Wild: {CMU-MOSEI} Dataset and Interpretable Dynamic Fusion Graph},
  author = {Bagher Zadeh, AmirAli and Liang, Paul Pu and Poria, Soujanya and Cambria, Erik and Morency, Louis-Philippe},
  booktitle = {Proceedings of the 56th Annual Meeting of the Association for Computational Linguistics},
  pages = {2236--2246},
  year = {2018}
}""",
    "meld": """@inproceedings{poria2019meld,
  title = {{MELD}: A Multimodal Multi-Party Dataset for Emotion Recognition in Conversations},
  author = {Poria, Soujanya and Hazarika, Devamanyu and Majumder, Navonil and Naik, Gautam and Cambria, Erik
            and Mihalcea, Rada},
  booktitle = {Proceedings of the 57th Annual Meeting of the Association for Computational Linguistics},
  pages = {527--536},
  year = {2019}
}
@article{chen2018emotionlines,
  title = {{EmotionLines}: An Emotion Corpus of Multi-Party Conversations},
  author = {Chen, Sheng-Yeh and Hsu, Chao-Chun and Kuo, Chuan-Chun and Huang, Ting-Hao and Ku, Lun-Wei},
  journal = {arXiv preprint arXiv:1802.08379},
  year = {2018}
}""",
    "iemocap": """@article{busso2008iemocap,
  title = {{IEMOCAP}: Interactive Emotional Dyadic Motion Capture Database},
  author = {Busso, Carlos and Bulut, Murtaza and Lee, Chi-Chun and Kazemzadeh, Abe and Mower, Emily and Kim, Samuel
            and Chang, Jeannette N. and Lee, Sungbok and Narayanan, Shrikanth S.},
  journal = {Language Resources and Evaluation},
  volume = {42}, number = {4}, pages = {335--359},
  year = {2008}
}""",
}

#: corpus -> (Hub licence id, what the licence allows and whom to cite): for dataset and model cards
CORPUS_LICENSES: dict[str, tuple[str, str]] = {
    "mosi": (
        "other",
        "CMU-MOSI is distributed by CMU for research with no explicit licence: research use only, "
        "cite Zadeh et al. (2016).",
    ),
    "mosei": (
        "other",
        "CMU-MOSEI is distributed by CMU for research with no explicit licence: research use "
        "only, cite Zadeh et al. (2018).",
    ),
    "meld": (
        "gpl-3.0",
        "MELD is released under GPL-3.0 (declare-lab/MELD); derived from Friends transcripts via "
        "EmotionLines. Cite Poria et al. (2019) and Chen et al. (2018).",
    ),
    "iemocap": (
        "other",
        "IEMOCAP is licensed by USC SAIL under a release form that forbids redistribution: "
        "publish only to private or gated repositories whose users hold an IEMOCAP licence. "
        "Cite Busso et al. (2008).",
    ),
}
