"""Importing the official v4 universal labels on a tiny fixture with the v4 CSV columns."""

import pytest
from data_helpers import make_corpora, make_row

from hub_datasets.official_labels import apply_official_labels
from unimse_hf.data.report import BuildReport

MSA_HEADER = "video_id,clip_id,text,score_label,annotation,meld_label,iemocap_label,mode,label_by\n"
MELD_HEADER = "Dialogue_ID,Utterance_ID,Season,Episode,Speaker,Utterance,Emotion,Sentiment,score_label,iemocap_label\n"


@pytest.fixture
def sources(tmp_path):
    mosi = tmp_path / "mosi"
    mosi.mkdir()
    (mosi / "label.csv").write_text("unused by the importer\n")
    (mosi / "unimse_universal_labels.csv").write_text(
        MSA_HEADER
        + "vidA,1,A SAD PART,-1.2,Negative,sadness,sad,train,0\n"
        + "vidA,2,OK,0.0,Neutral,neutral,neu,valid,0\n"
        + "vidB,3,WOW,2.0,Positive,joy,sur,test,0\n"  # 'sur' is not one of the 6 classes
        + "vidC,9,ORPHAN,1.0,Positive,joy,exc,train,0\n"  # no dataset row
    )
    meld = tmp_path / "meld" / "unimse_universal_labels"
    meld.mkdir(parents=True)
    for name, body in (
        (
            "train_sent_emo_v4.csv",
            '0,0,8,21,Chandler,"also I was the point person, ok",neutral,neutral,0.0,neu\n'
            "0,1,8,21,Joey,You mustve had it,anger,negative,-0.3333333432674408,ang\n",
        ),
        ("dev_sent_emo_v4.csv", "0,0,1,1,Ross,hi,joy,positive,2.6666667461395264,hap\n"),
        ("test_sent_emo_v4.csv", "0,0,1,1,Ross,yo,joy,positive,1.0,exc\n"),
    ):
        (meld / name).write_text(MELD_HEADER + body + "-1,-1,-1,-1,Monica,I know!,sadness,negative,-0.33,sad\n")
    return {"mosi": mosi / "label.csv", "meld": tmp_path / "meld"}


def test_official_labels_fill_missing_fields_and_count_everything(sources):
    rows = [
        make_row("mosi", "train", "a sad part", "negative", row_id="vidA$_$1", score=-1.2),
        make_row("mosi", "validation", "ok", "neutral", row_id="vidA$_$2", score=0.0),
        make_row("mosi", "test", "wow", "positive", row_id="vidB$_$3", score=2.0),
        make_row("mosi", "test", "unmatched", "positive", row_id="vidZ$_$1", score=1.0),
        make_row("meld", "train", "x", "neutral", row_id="train/dia0_utt0", meld_emotion="neutral"),
        make_row("meld", "train", "y", "negative", row_id="train/dia0_utt1", meld_emotion="anger"),
        make_row("meld", "validation", "hi", "positive", row_id="validation/dia0_utt0", meld_emotion="joy"),
        make_row("meld", "test", "yo", "positive", row_id="test/dia0_utt0", meld_emotion="joy"),
    ]
    report = BuildReport()
    out = apply_official_labels(make_corpora(rows), sources, report)
    mosi_train = out["mosi"]["train"][0]
    assert (mosi_train["meld_emotion"], mosi_train["iemocap_emotion"]) == ("sadness", "sadness")
    assert (mosi_train["meld_emotion_origin"], mosi_train["iemocap_emotion_origin"]) == ("pseudo", "pseudo")
    assert mosi_train["score"] == pytest.approx(-1.2) and mosi_train["score_origin"] == "gold"
    wow = out["mosi"]["test"][0]
    assert (wow["meld_emotion"], wow["iemocap_emotion"], wow["iemocap_emotion_origin"]) == ("joy", None, "missing")
    meld_train = out["meld"]["train"]
    assert list(meld_train["score"]) == pytest.approx([0.0, -0.3333333432674408])
    assert list(meld_train["iemocap_emotion"]) == ["neutral", "anger"]
    assert list(meld_train["meld_emotion_origin"]) == ["gold", "gold"]
    assert out["meld"]["validation"][0]["iemocap_emotion"] == "joy"
    assert out["meld"]["test"][0]["iemocap_emotion"] == "excited"
    assert report.total(reason="v4 padding row (Dialogue_ID = -1) skipped") == 3
    assert report.total(corpus="mosi", reason="no v4 row matches this row id") == 1
    assert report.total(corpus="mosi", reason="v4 row without a matching dataset row") == 1
    assert (
        report.total(reason="v4 iemocap_label 'sur' is outside the 6 evaluated classes; iemocap_emotion left missing")
        == 1
    )
    assert report.total("dropped") == 0


def test_missing_official_file_names_the_path(sources, tmp_path):
    rows = [make_row("mosei", "train", "x", "positive", row_id="v$_$1", score=1.0)]
    with pytest.raises(FileNotFoundError, match="unimse_universal_labels.csv"):
        apply_official_labels(make_corpora(rows), {"mosei": tmp_path}, BuildReport())


def test_wrong_v4_columns_are_named(tmp_path):
    (tmp_path / "unimse_universal_labels.csv").write_text("video_id,clip_id,text,label\nv,1,x,1.0\n")
    rows = [make_row("mosi", "train", "x", "positive", row_id="v$_$1", score=1.0)]
    with pytest.raises(ValueError, match=r"missing \['meld_label', 'iemocap_label', 'mode'\]"):
        apply_official_labels(make_corpora(rows), {"mosi": tmp_path}, BuildReport())
