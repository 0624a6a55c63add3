"""Recognizer for Chinese person, place and organisation names: jiagu NER over the CJK runs of a text."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Sequence
from dataclasses import dataclass

import jiagu
from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

PERSON = "PERSON"
LOCATION = "LOCATION"
ORGANIZATION = "ORGANIZATION"
_JIAGU_TO_PRESIDIO = {"PER": PERSON, "LOC": LOCATION, "ORG": ORGANIZATION}

# CJK Unified Ideographs with extension A, compatibility ideographs and extensions B-F.
_HAN = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]"
_HAN_CHARS = _HAN[1:-1]
# CJK text plus its full-width punctuation, so cue words like "联系人：" stay in the same run as the name
# that follows. Latin letters and digits end a run: jiagu's model was trained on Chinese only.
_RUN_CHAR = "[" + _HAN_CHARS + r"\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65·]"
_CJK_RUN = re.compile(_RUN_CHAR + r"+(?:[ \t]+" + _RUN_CHAR + r"+)*")
_ALL_HAN = re.compile(_HAN + r"+")

# Common single-character surnames (roughly the 300 most frequent). Characters that are far more
# often function words than surnames (和, 于, 向, 时, 来, 都, ...) are left out on purpose: the
# context rule below would otherwise turn "客户于昨日来电" into a name.
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃"
    "武戴莫孔汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿兰焦俞左柳甘祝包宁尚符舒阮柯"
    "纪梅童凌毕单季裴霍涂苗谷盛曲翁冉骆蓝游辛靳管柴蒙鲍华喻祁蒲房滕屈饶牟艾尤阳穆农司卓古吉缪简车项关"
    "连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂佟臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖"
    "巩佘池查麻苑迟邝封谈匡鞠惠荆冀郁胥班储栗燕楚鄢劳谌奚皮粟冼蔺楼满闻厉伊仝郜阚权帅屠朴盖练廉禹"
    "井祖漆巴丰卿狄宣晋扈晁芮普阙浦戈伏鹿薄邸雍辜羊裘亓修邰赫杭况宿鲜逯隆茹诸战慕危嵇湛宾戎勾茅"
    "於揭尉冶斯束檀昝智幸奉植衡富尧闭侍晏濮萧阎解计全利赖洪"
)
# Surnames left out above because they are far more often function or common words (向客户, 时间, 成本). A run of
# Chinese set alone in English text ("Met 向莉 and") cannot be that word, so there they count as surnames.
_WORD_SURNAMES = frozenset("于向时和来都成路明应乐由")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_COMPOUND_SURNAMES = _words(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 令狐 长孙 宇文 司徒 夏侯 轩辕 端木 独孤 南宫 西门 "
    "百里 呼延 澹台 万俟 闻人 申屠 太史 钟离 赫连 宗政 濮阳 公冶 太叔 单于 仲孙 拓跋 淳于 东郭"
)
# Words before a name that say a person follows: roles and verbs of addressing someone.
PRE_CUES = _words(
    "客户 用户 会员 联系人 收件人 寄件人 收货人 投诉人 经办人 负责人 申请人 当事人 法人 代表人 法定代表人 "
    "担保人 借款人 持卡人 户主 业主 房东 租客 患者 病人 家属 员工 职员 同事 经理 主管 总监 主任 老师 "
    "医生 护士 律师 客服 专员 助理 司机 快递员 业务员 销售 学生 家长 姓名 名字 转告 告知 通知 联系 致电 "
    "询问 委托 授权 陪同 叫 名叫 是 由 和 与 及 同 给 让 找 请 问 见 称 据 向 对 跟 把 被 替 帮 "
    "今天 昨天 明天"
)
# Words right after a name: honorifics and the verbs typical of call-centre and CRM notes.
POST_CUES = _words(
    "先生 女士 小姐 老师 经理 总 医生 同学 同志 师傅 阿姨 叔叔 大爷 老板 主任 律师 来电 致电 打电话 反映 "
    "表示 称 说 说明 投诉 要求 申请 办理 签字 签收 确认 咨询 提出 认为 同意 拒绝 收到 发现 负责 联系 "
    "已 已经 于 在 的 和 与 及 等 曾 也 都 将 会 今天 明天 昨天 本人 家 女儿 儿子 妻子 丈夫"
)
# Never part of a given name: function words, honorifics and verbs that follow names.
_NOT_GIVEN = (
    _words(
        "的 了 在 是 和 与 及 或 说 也 都 就 而 把 被 让 给 向 从 对 为 以 于 已 将 会 要 能 可 去 来 到 "
        "上 下 中 里 等 这 那 你 我 他 她 它 们 不 没 很 再 又 还 才 先 后 前 时 年 月 日 号 人 称 问 请"
    )
    | POST_CUES
)
# Dictionary frequency above which a two-character word is taken to be a common word (明天 1725,
# 已经 15828) rather than a given name (建华 64, 海燕 76): measured on jiagu's own dictionary.
_MAX_GIVEN_NAME_FREQ = 1000
# A whole word that starts with a surname is a name only if the dictionary barely knows it
# (张伟 8, 李明 43) — common words starting with surname characters (马上, 高兴) are far more frequent.
_MAX_FULL_NAME_FREQ = 100
_CUE_SPLIT = re.compile(
    "((?:" + "|".join(sorted((cue for cue in PRE_CUES if len(cue) >= 2), key=len, reverse=True)) + "))"
)
_COLONS = frozenset({":", "：", " ", "\t", "\u3000"})


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int


def jiagu_version() -> str:
    """The installed jiagu version, part of the de-identification version string."""
    return importlib.metadata.version("jiagu")


def _load_dictionary() -> None:
    """Load jiagu's segmentation dictionary once. Loading adds its counts to the ones already there, so a second
    load would double every frequency the thresholds below compare against."""
    if not jiagu.any.seg_nroute.initialized:
        jiagu.any.init_cws()


def _vocab_freq(word: str) -> int:
    # jiagu exposes its segmentation dictionary only through the module-level analyzer instance. A name test can
    # come before any segmentation (mixed-script text), so the dictionary is loaded here if it is not yet.
    _load_dictionary()
    vocab: dict[str, int] = jiagu.any.seg_nroute.vocab
    return vocab.get(word, 0)


# Field labels that sit right before a value in business text (付款卡号6222…); jiagu reads some as names
# (seen in the demo: 卡号 → PERSON), and none of them is ever one.
_FIELD_LABELS = frozenset(
    {"卡号", "账号", "帐号", "号码", "单号", "电话", "手机", "邮箱", "地址", "编号", "证号", "户名", "工号", "税号"}
)


def _is_surname(word: str) -> bool:
    return word in _SURNAMES or word in _COMPOUND_SURNAMES


def _is_given_name(word: str) -> bool:
    if not 1 <= len(word) <= 2 or not _ALL_HAN.fullmatch(word) or word in _NOT_GIVEN:
        return False
    return len(word) == 1 or _vocab_freq(word) < _MAX_GIVEN_NAME_FREQ


def _is_full_name_word(word: str) -> bool:
    """A single segmented word that looks like surname + given name (高淑华, 欧阳娜娜)."""
    if word in _FIELD_LABELS or not _ALL_HAN.fullmatch(word) or word in _NOT_GIVEN:
        return False
    if _vocab_freq(word) >= _MAX_FULL_NAME_FREQ:
        return False
    if 2 <= len(word) <= 3 and word[0] in _SURNAMES:
        return True
    return 3 <= len(word) <= 4 and word[:2] in _COMPOUND_SURNAMES


def looks_like_full_name(text: str, *, standing_alone: bool = False) -> bool:
    """Whether ``text`` alone reads as surname + given name (陆敏, 冷雪梅, 欧阳娜娜) and is no common word (高兴).

    ``standing_alone``: ``text`` is a whole run of Chinese inside other-script text, so surnames that are also
    function words (向, 时) count.
    """
    if not _ALL_HAN.fullmatch(text) or text in _FIELD_LABELS or _vocab_freq(text) >= _MAX_FULL_NAME_FREQ:
        return False
    if text[:2] in _COMPOUND_SURNAMES and 3 <= len(text) <= 4:
        return _is_given_name(text[2:])
    surname = text[0] in _SURNAMES or (standing_alone and text[0] in _WORD_SURNAMES)
    return surname and 2 <= len(text) <= 3 and _is_given_name(text[1:])


def _is_common_word_span(words: Sequence[_Word], begin: int, end: int) -> bool:
    """A lone character, a field label or one frequent dictionary word (谢谢, 程序): jiagu's typical false persons."""
    text = "".join(word.text for word in words[begin:end])
    return len(text) < 2 or text in _FIELD_LABELS or (end - begin == 1 and _vocab_freq(text) >= _MAX_GIVEN_NAME_FREQ)


def _segment(run: str, offset: int) -> list[_Word]:
    pieces: list[str] = []
    # Cut after each role word first: left alone the segmenter glues a surname to it ("投诉" + "人马").
    for chunk in _CUE_SPLIT.split(run):
        if chunk:
            pieces.extend(jiagu.seg(chunk))
    if "".join(pieces) != run:
        # Offsets must stay exact; if the segmenter ever altered the text, fall back to characters.
        pieces = list(run)
    words: list[_Word] = []
    position = offset
    for piece in pieces:
        words.append(_Word(piece, position, position + len(piece)))
        position += len(piece)
    return words


def decode_bio(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entity spans as (jiagu label, first word, end word). An I- tag after O opens a span: jiagu often
    omits the B- tag, and dropping those spans would lose most organisation names."""
    spans: list[tuple[str, int, int]] = []
    label: str | None = None
    begin = 0
    for index, tag in enumerate([*tags, "O"]):
        prefix, _, kind = tag.partition("-")
        continues = prefix == "I" and kind == label
        if label is not None and not continues:
            spans.append((label, begin, index))
            label = None
        if prefix in ("B", "I") and not continues and kind in _JIAGU_TO_PRESIDIO:
            label, begin = kind, index
    return spans


def _has_cue(words: Sequence[_Word], begin: int, end: int) -> bool:
    before = begin - 1
    while before >= 0 and words[before].text in _COLONS:
        before -= 1
    if before >= 0:
        if words[before].text in PRE_CUES:
            return True
        # The segmenter often splits role nouns ("联系" + "人"), so match on the preceding characters.
        preceding = "".join(word.text for word in words[max(0, before - 2) : before + 1])
        if any(preceding.endswith(cue) for cue in PRE_CUES if len(cue) >= 2):
            return True
        if len(preceding) >= 2 and preceding[-1] in "人员者" and _ALL_HAN.fullmatch(preceding[-2:]):
            return True
    return end < len(words) and words[end].text in POST_CUES


def _cue_persons(words: Sequence[_Word]) -> list[tuple[int, int]]:
    """Name-shaped word spans (surname + given name) with a role or verb cue next to them."""
    found: list[tuple[int, int]] = []
    index = 0
    while index < len(words):
        text = words[index].text
        span: tuple[int, int] | None = None
        if _is_surname(text) and index + 1 < len(words) and _is_given_name(words[index + 1].text):
            span = (index, index + 2)
        elif _is_full_name_word(text):
            span = (index, index + 1)
        if span is not None and _has_cue(words, *span):
            found.append(span)
            index = span[1]
        else:
            index += 1
    return found


class ChineseNerRecognizer(EntityRecognizer):
    """Runs jiagu's NER on each CJK run and maps PER/LOC/ORG to PERSON/LOCATION/ORGANIZATION.

    jiagu's perceptron tags segmented words (not characters) and misses many short names in CRM-style
    notes ("客户张伟来电") — about half of Faker zh_CN names in such templates. Repairs: a person span
    covering only half a name (surname or given name) is extended over the other half; lone characters
    and frequent dictionary words (谢谢) are not persons; and a surname + given-name shape next to a role
    or verb cue (客户, 联系人：, 先生, 来电, ...) is reported as a person at a lower score.
    """

    ENTITIES = (PERSON, LOCATION, ORGANIZATION)
    NAME = "ChineseNerRecognizer"

    def __init__(self, supported_language: str = "en", ner_score: float = 0.8, cue_score: float = 0.7) -> None:
        # The pipeline analyses mixed zh/en text under one language code, so this recognizer is
        # registered for that code (default "en") even though it only reads the Chinese runs.
        self.ner_score = ner_score
        self.cue_score = cue_score
        super().__init__(
            supported_entities=list(self.ENTITIES),
            supported_language=supported_language,
            name=self.NAME,
            version=jiagu_version(),
        )

    def load(self) -> None:
        # Pay the model and dictionary load at start rather than on the first record.
        jiagu.any.init_ner()
        _load_dictionary()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        wanted = set(entities) if entities else set(self.ENTITIES)
        results: list[RecognizerResult] = []
        for run in _CJK_RUN.finditer(text):
            for entity_type, start, end, score, how in self._analyze_run(run.group(), run.start()):
                if entity_type in wanted:
                    results.append(self._result(entity_type, start, end, score, how))
        return results

    def _analyze_run(self, run: str, offset: int) -> list[tuple[str, int, int, float, str]]:
        words = _segment(run, offset)
        tags: list[str] = jiagu.ner([word.text for word in words])
        found: list[tuple[str, int, int, float, str]] = []
        person_words: list[tuple[int, int]] = []
        for label, begin, end in decode_bio(tags):
            entity_type = _JIAGU_TO_PRESIDIO[label]
            if entity_type == PERSON:
                # jiagu often tags only one half of a name: the surname (俞 | 淑华) or the given name.
                if end - begin == 1 and _is_surname(words[begin].text) and end < len(words):
                    if _is_given_name(words[end].text):
                        end += 1
                elif begin > 0 and _is_surname(words[begin - 1].text) and _is_given_name(words[begin].text):
                    begin -= 1
                if _is_common_word_span(words, begin, end):
                    continue
                person_words.append((begin, end))
            found.append((entity_type, words[begin].start, words[end - 1].end, self.ner_score, "jiagu"))
        for begin, end in _cue_persons(words):
            start, stop = words[begin].start, words[end - 1].end
            if any(b <= begin and end <= e for b, e in person_words):
                continue
            # jiagu often labels an unknown name as a place or organisation, or tags a part of it; the
            # cue span replaces whatever it contains.
            found = [f for f in found if not (start <= f[1] and f[2] <= stop)]
            found.append((PERSON, start, stop, self.cue_score, "cue"))
        return found

    def _result(self, entity_type: str, start: int, end: int, score: float, how: str) -> RecognizerResult:
        explanation = AnalysisExplanation(
            recognizer=self.NAME,
            original_score=score,
            textual_explanation=f"Identified as {entity_type} by jiagu ({how})",
        )
        return RecognizerResult(
            entity_type=entity_type,
            start=start,
            end=end,
            score=score,
            analysis_explanation=explanation,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.NAME,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )
