"""Each noise pattern of the source, written by hand, is removed by ``clean_verse``."""

from __future__ import annotations

import pytest

from harness.data import clean_verse

OT = (19, 22, 1)  # Psalms
NT = (45, 16, 24)  # Romans

CASES = [
    # (lang, key, raw, expected text, expected flags)
    ("en", NT, "But this kind doesn`t go out.", "But this kind doesn't go out.", set()),
    ("en", OT, "the Syrian [character], and [and] of Moab:", "the Syrian character, and and of Moab:", set()),
    ("en", OT, "They will consider it. Psalm 108 A Song. A Psalm by David.", "They will consider it.", set()),
    ("en", (18, 42, 17), "So Job died, being old and full of days. BOOK I Psalm 1",
     "So Job died, being old and full of days.", set()),
    ("en", NT, "dummy verses inserted by amos", "", {"placeholder"}),
    ("es", NT, "Entonces él les dijo: \u00adOh insensatos!", "Entonces él les dijo: ¡Oh insensatos!", set()),
    ("es", (40, 1, 1), "LIBRO de la generación de Jesucristo", "Libro de la generación de Jesucristo", set()),
    ("es", (9, 23, 29), "ENTONCES David subió de allí", "Entonces David subió de allí", set()),
    ("pt", (19, 3, 1), "SENHOR, como se têm multiplicado", "Senhor, como se têm multiplicado", set()),
    ("pt", (19, 3, 2), "SENHOR, como se têm multiplicado", "SENHOR, como se têm multiplicado", set()),
    ("es", OT, "\t Y edificó allí David un altar", "Y edificó allí David un altar", set()),
    ("fr", OT, "(22:1) Au chef des chantres. (22:2) Mon Dieu!", "Au chef des chantres. Mon Dieu!", set()),
    ("fr", NT, "Va, ta foi t'a sauvé. (10:53) Aussitôt il recouvra la vue.",
     "Va, ta foi t'a sauvé. Aussitôt il recouvra la vue.", {"renumbered"}),
    ("fr", NT, "(13:12b) Tous les saints vous saluent.", "Tous les saints vous saluent.", {"renumbered"}),
    ("pt", NT, "e os puseram na prisão pública. 19 Mas de noite um anjo",
     "e os puseram na prisão pública. Mas de noite um anjo", {"merged"}),
    ("pt", OT, "com a sua descendê\x7fncia", "com a sua descendência", set()),
    ("de", NT, "Agrippa aber [sprach] zu Paulus: In kurzem", "Agrippa aber sprach zu Paulus: In kurzem", set()),
    ("de", NT, "(MISSING) [KJV: Notwithstanding it pleased Silas.] From Schlachter: Es gefiel aber dem Silas.",
     "Es gefiel aber dem Silas.", {"substituted"}),
    ("de", OT, "alle Nationen werden ihn glücklich preisen. * * *",
     "alle Nationen werden ihn glücklich preisen.", set()),
    ("ru", OT, "(21:1) Начальнику хора. (21:2) Боже мой!", "Начальнику хора. Боже мой!", set()),
    ("ru", NT, "(14:26) Единому Премудрому Богу, слава во веки.",
     "Единому Премудрому Богу, слава во веки.", {"renumbered"}),
    ("ru", OT, "(ADDED FROM KJV: The song of songs, which is Solomon's. => Песня Песней Соломона.)",
     "Песня Песней Соломона.", set()),
    ("zh", OT, "我的 神！ 我的 神！ 你为什么离弃我？ ", "我的神！我的神！你为什么离弃我？", set()),
    ("zh", OT, "巴比伦城（“城”原文作“女子”）好像正被踹平的禾场， 再过片时。 ",
     "巴比伦城好像正被踹平的禾场，再过片时。", set()),
    ("zh", OT, "在它们的平原上（“在它们的平原上”或参照《七十士译本》译作“亚衲族”﹝参书11:21-22﹞）余剩的人",
     "在它们的平原上余剩的人", set()),
    ("zh", NT, "（有些抄本有第24节： “愿我们主耶稣基督的恩惠， 与你们众人同在。阿们。”） ", "", {"empty"}),
    ("zh", NT, "对他说： “你去西罗亚池洗一洗吧。”（西罗亚就是“奉差遣”的意思。）于是他就去了。 ",
     "对他说：“你去西罗亚池洗一洗吧。”（西罗亚就是“奉差遣”的意思。）于是他就去了。", set()),
    ("zh", NT, "(12:18) 那时， 龙站在海边的沙上。 ", "那时，龙站在海边的沙上。", {"renumbered"}),
    ("ar", OT, "\u200eيا رب ما اكثر مضايقي\u200f. كثيرون\u200e.", "يا رب ما اكثر مضايقي. كثيرون.", set()),
    ("ar", OT, "وراء الرب الهكم*****", "وراء الرب الهكم", set()),
    ("ar", NT, "فنتكلم فما لفم. ( [ (III John 1:15) ) سلام لك. ]", "فنتكلم فما لفم. سلام لك.", {"merged"}),
    ("ar", NT, "نعمة ربنا يسوع المسيح مع جميعكم آمين. كتبت الى اهل فيلبي من رومية على يد ابفرودتس",
     "نعمة ربنا يسوع المسيح مع جميعكم آمين.", set()),
    ("hi", NT, "क्या वह कर्मों से धार्मिक न ठहरा था? (उत्प. 22:9)", "क्या वह कर्मों से धार्मिक न ठहरा था?", set()),
    ("hi", NT, "और भेंट की रोटियाँ* खाई", "और भेंट की रोटियाँ खाई", set()),
    ("hi", NT, "परमेश्\u200dवर ने जगत से", "परमेश्वर ने जगत से", set()),
    ("hi", NT, "जिसको कैद में पड़ना है,जो तलवार से मारेगा।पवित्र लोगों का",
     "जिसको कैद में पड़ना है, जो तलवार से मारेगा। पवित्र लोगों का", set()),
    ("hi", NT, "[पर यह जाति बिना प्रार्थना के नहीं निकलती।]”", "पर यह जाति बिना प्रार्थना के नहीं निकलती।”", set()),
    ("vi", NT, "đi qua xứ Ga-li-lê₫", "đi qua xứ Ga-li-lê.", set()),
    ("vi", NT, "ngươi rồi. (10-53) Tức thì người mù được sáng mắt",
     "ngươi rồi. Tức thì người mù được sáng mắt", {"renumbered"}),
    ("id", OT, "(63-11) Mereka akan diserahkan kepada kuasa pedang",
     "Mereka akan diserahkan kepada kuasa pedang", set()),
    ("id", NT, "(Kasih karunia Yesus Kristus, Tuhan kita, menyertai kamu sekalian! Amin.)",
     "Kasih karunia Yesus Kristus, Tuhan kita, menyertai kamu sekalian! Amin.", set()),
    ("id", NT, "Mesias (artinya: Kristus).", "Mesias (artinya: Kristus).", set()),
    ("sw", NT, "[ Lakini namna hii haitoki ila kwa kusali na kufunga. ]",
     "Lakini namna hii haitoki ila kwa kusali na kufunga.", set()),
    ("sw", NT, "Basi <Bwana> ndiye Roho", "Basi Bwana ndiye Roho", set()),
    ("sw", OT, "bwana wenu, masihi*fq* wa Bwana.", "bwana wenu, masihi wa Bwana.", set()),
    ("fr", NT, "Caf\u0065\u0301  au\n lait", "Café au lait", set()),  # NFC, whitespace
]


@pytest.mark.parametrize(
    ("lang", "key", "raw", "expected", "flags"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_clean_verse_removes_noise(lang, key, raw, expected, flags):
    text, got_flags = clean_verse(lang, raw, key)
    assert text == expected
    assert set(got_flags) == flags


def test_clean_verse_keeps_plain_text_unchanged():
    plain = "For God so loved the world, that he gave his one and only Son."
    assert clean_verse("en", plain, (43, 3, 16)) == (plain, frozenset())


def test_renumbering_mark_flags_only_new_testament():
    assert clean_verse("ru", "(88:38) вовек будет тверд", (19, 89, 37))[1] == frozenset()
    assert "renumbered" in clean_verse("ru", "(13:12) Приветствуют вас", (47, 13, 13))[1]
