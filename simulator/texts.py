"""Text the simulator "recognises": questions, answer-sheet lines, essays, formulas, words.

Every generator draws from the caller's seeded RNG, so text is as deterministic as the boxes
around it. Arithmetic in questions and answers is right (or deliberately wrong in 判断题),
which keeps the samples plausible to a human reading a test failure.
"""

from __future__ import annotations

import random

QUESTION_TYPES: tuple[str, ...] = ("选择题", "填空题", "判断题", "计算题", "问答题")
_SHEET_ANSWERS: tuple[str, ...] = (
    "This is my classmate.",
    "He has a green T-shirt.",
    "They have glasses magic",
    "There are many books in the classroom.",
    "I can't play the park.",
    "She goes to school by bike.",
    "My favourite season is autumn.",
    "We often play football after class.",
    "B",
    "C",
    "A",
    "D",
)
TITLES: tuple[str, ...] = (
    "我的童年",
    "难忘的一天",
    "我的妈妈",
    "春天来了",
    "一次有趣的实验",
    "我最喜欢的书",
    "校园里的秋天",
    "假如我是一只小鸟",
)
SENTENCES: tuple[str, ...] = (
    "每个人都有难忘的童年。",
    "我的童年充满了欢声笑语,夏天会和小伙伴去河边捉鱼。",
    "冬天则围在火炉旁听奶奶讲故事。",
    "清晨的阳光洒在窗台上,小鸟在枝头唱着欢快的歌。",
    "妈妈总是第一个起床,为我们准备热腾腾的早饭。",
    "那一天,我终于学会了骑自行车。",
    "老师说,失败是成功之母,只要坚持就一定会有收获。",
    "操场上的桂花开了,空气里都是甜甜的香味。",
    "我和同学们一起做实验,把紫甘蓝汁滴进白醋里。",
    "神奇的事情发生了,紫色的液体一下子变成了红色!",
    "读完这本书,我明白了友谊的可贵。",
    "春风吹绿了柳树,也吹开了满山的桃花。",
    "小河里的冰融化了,叮叮咚咚地向远方流去。",
    "假如我是一只小鸟,我要飞到世界各地去看看。",
    "我要把快乐带给每一个需要帮助的人。",
    "放学的路上,我看见一位老爷爷提着很重的东西。",
    "我赶紧跑过去帮他提到了家门口。",
    "老爷爷笑着摸了摸我的头,夸我是个好孩子。",
    "那一刻,我心里比吃了蜜还甜。",
    "时间过得真快,转眼间我已经是一名五年级的学生了。",
    "这件事虽然过去很久了,但我一直记在心里。",
    "你知道吗?蚂蚁搬家是因为快要下雨了。",
    "我爱我的家乡,爱它的山山水水。",
    "秋天的田野一片金黄,农民伯伯的脸上露出了丰收的笑容。",
)
TEXT_PIECES: tuple[str, ...] = (
    "已知",
    "是二元一次方程组",
    "的解,则",
    "的值是()",
    "化简:",
    "解方程",
    "计算",
    "若",
    "求证:",
    "函数",
    "的定义域为",
)
FORMULAS: tuple[str, ...] = (
    "\\left\\{ \\begin{aligned} & x = - 1 1 \\\\ & y = 2 \\\\ \\end{aligned} \\right. ",
    "\\left\\{ \\begin{aligned} & 3 x + 2 y = m \\\\ & n x - y = 2 \\\\ \\end{aligned} \\right. ",
    "m - \\left[ 1 0 0 , - \\infty \\right) ",
    "x ^ { 2 } - 5 x + 6 = 0 ",
    "\\frac { 1 } { 2 } + \\frac { 1 } { 3 } ",
    "\\sqrt { 2 } \\times \\sqrt { 8 } ",
    "f \\left( x \\right) = \\frac { 1 } { x - 1 } ",
    "a ^ { 2 } + b ^ { 2 } = c ^ { 2 } ",
    "\\sin ^ { 2 } \\alpha + \\cos ^ { 2 } \\alpha = 1 ",
)
OCR_LINES: tuple[str, ...] = (
    "百度通用文字识别高精度版",
    " OCR",
    "姓名:张小明",
    "班级:三年级二班",
    "学号:20260315",
    "Total: 98.5",
    "数学期中测试卷",
    "Invoice No. 004217",
    "第一部分 选择题",
    "考试时间:90分钟",
)
ENGLISH_LINES: tuple[str, ...] = (
    "OCR",
    "Name: Zhang Xiaoming",
    "Class 3, Grade 2",
    "Total: 98.5",
    "Mid-term maths test",
    "Invoice No. 004217",
    "Part One: Multiple choice",
)


def paper_question(
    rng: random.Random, number: int
) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    """``(qus_type, question_words, choices, answer_words)`` for question ``number``."""
    kind = rng.choice(QUESTION_TYPES)
    a, b, c = rng.randint(2, 20), rng.randint(2, 20), rng.randint(2, 9)
    choices: tuple[str, ...] = ()
    if kind == "选择题":
        values = rng.sample(range(1, 40), 4)
        choices = tuple(f"{letter}. {value}" for letter, value in zip("ABCD", values, strict=True))
        words = f"{number}.下列各数中,最大的是( )"
        answers: tuple[str, ...] = ("ABCD"[values.index(max(values))],)
    elif kind == "填空题":
        words, answers = f"{number}.{a}+{b}=____", (str(a + b),)
    elif kind == "判断题":
        claimed = a * b + rng.choice((0, 0, 1))
        words = f"{number}.判断:{a}×{b}={claimed}。( )"
        answers = ("√" if claimed == a * b else "×",)
    elif kind == "计算题":
        words, answers = f"{number}.计算:{a}×{b}-{c}", (f"{a}×{b}-{c}", f"={a * b - c}")
    else:
        total = b * c + a * 10
        words = f"{number}.一袋奶粉重{total}克。每天用{b}克,用了{c}天,还剩多少克?"
        answers = (f"{total}-{b}×{c}={total - b * c}(克)", f"答:还剩{total - b * c}克。")
    if rng.random() < 0.12:
        answers = ()  # unanswered: the provider returns an empty list
    return kind, words, choices, answers


def answer_sheet_items(rng: random.Random, first: int) -> tuple[tuple[str, str], ...]:
    """Numbered ``(number, answer)`` lines of one answer-sheet region, from ``first`` on."""
    count = rng.randint(1, 5)
    return tuple((f"{first + i}.", rng.choice(_SHEET_ANSWERS)) for i in range(count))


def essay(rng: random.Random) -> tuple[str, tuple[tuple[str, ...], ...]]:
    """A title and 2-5 paragraphs of 1-4 sentences, no sentence used twice."""
    title = rng.choice(TITLES)
    pool = list(SENTENCES)
    rng.shuffle(pool)
    paragraphs: list[tuple[str, ...]] = []
    for _ in range(rng.randint(2, 5)):
        size = min(rng.randint(1, 4), len(pool))
        paragraphs.append(tuple(pool[:size]))
        del pool[:size]
    return title, tuple(p for p in paragraphs if p)
