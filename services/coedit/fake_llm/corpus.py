"""The fake model's story material, on the seed demo's theme: robots in the
23rd century who want to understand what it means to be a good person."""

OPENINGS = {
    "ru": [
        "В двадцать третьем веке города светились мягким неоновым сиянием, а по небу тихо скользили дроны.",
        "В далёком XXIII веке люди и роботы жили по соседству и учились понимать друг друга.",
    ],
    "en": [
        "In the twenty-third century the cities glowed with a soft neon light, and drones slid quietly across the sky.",
        "In the distant twenty-third century people and robots lived side by side and were learning to understand each other.",
    ],
}

SENTENCES = {
    "ru": [
        "Однажды ночью робот-няня Тика спросила у спящего города, можно ли научиться доброте по инструкции.",
        "Старый ремонтный дрон Винт знал ответ на любой технический вопрос, но только не на этот.",
        "Маленькая Мира сказала, что хороший человек — это тот, кто замечает, когда другому грустно.",
        "Роботы долго обсуждали её слова на своей тихой частоте, пока над крышами не погасли огни.",
        "Утром робот-садовник впервые полил цветы у дома, где его об этом никто не просил.",
        "Библиотечный робот Буква завёл тетрадь и записывал в неё каждый добрый поступок, который видел.",
        "К концу недели в тетради не осталось свободных страниц.",
        "Мальчик Лёва принёс роботам коробку старых сказок и попросил читать их вслух по очереди.",
        "В сказках герои ошибались, просили прощения и снова пробовали, и роботам это казалось очень важным.",
        "Тика решила, что быть хорошим — значит не бояться ошибиться ради другого.",
        "Над парком проплыла орбитальная станция, и солнечные деревья зашелестели серебряными листьями.",
        "Винт починил сломанную игрушку соседского малыша и смутился, когда тот его обнял.",
        "Впервые за сто лет службы он не знал, что ответить, и просто тихо загудел.",
        "Роботы заметили, что доброта не расходует батарею, а почему-то её заряжает.",
        "Вечером все собрались на крыше, чтобы посмотреть, как над городом зажигаются звёзды.",
        "Мира показала роботам, как загадывать желание, и они загадали одно на всех.",
        "Никто не узнал, какое это было желание, но утром город проснулся чуть добрее.",
        "Буква дописал в тетради последнюю строчку: «Человеком становятся каждый день заново».",
    ],
    "en": [
        "One night the nanny robot Tika asked the sleeping city whether kindness could be learned from a manual.",
        "The old repair drone Bolt knew the answer to every technical question, but not to this one.",
        "Little Mira said that a good person is someone who notices when another is sad.",
        "The robots discussed her words on their quiet frequency until the lights over the roofs went out.",
        "In the morning the gardener robot watered the flowers by a house where nobody had asked it to.",
        "The library robot Letter started a notebook and wrote down every kind deed it saw.",
        "By the end of the week there were no empty pages left in the notebook.",
        "A boy named Leo brought the robots a box of old fairy tales and asked them to read aloud in turns.",
        "In the tales the heroes made mistakes, said sorry and tried again, and the robots found that very important.",
        "Tika decided that being good means not being afraid to make a mistake for someone else.",
        "An orbital station drifted over the park, and the solar trees rustled their silver leaves.",
        "Bolt mended a neighbour's broken toy and was embarrassed when the little boy hugged him.",
        "For the first time in a hundred years of service he did not know what to say and simply hummed.",
        "The robots noticed that kindness did not drain their batteries but somehow charged them.",
        "In the evening everyone gathered on the roof to watch the stars come out over the city.",
        "Mira showed the robots how to make a wish, and they made one wish together.",
        "Nobody learned what the wish was, but the next morning the city woke up a little kinder.",
        "Letter wrote the last line in the notebook: people become human again every day.",
    ],
}

# Clauses that a rewrite adds before a sentence's final punctuation; the first
# three fit any subject (they end composed sentences too).
EMBELLISHMENTS = {
    "ru": [
        ", и от этого в комнате становилось теплее",
        " — тихо, чтобы никого не разбудить",
        " под мягкий гул ночных дронов",
        ", словно боялись спугнуть что-то важное",
        ", хотя никто их об этом не просил",
        ", и в их голосах впервые слышалась нежность",
    ],
    "en": [
        ", and the room grew a little warmer",
        " — quietly, so as not to wake anyone",
        " under the soft hum of the night drones",
        ", as if afraid to scare away something important",
        ", although nobody had asked them to",
        ", and for the first time their voices sounded tender",
    ],
}
ANY_SUBJECT = 3

# Sentences a rewrite removes: the placeholder the seed's agents deleted first.
PLACEHOLDERS = ["Документ начинается здесь.", "The document starts here."]

SUMMARIES = {
    "ru": {
        "add": ["добавить деталь после этого предложения", "развить сюжет дальше", "добавить сцену с роботами"],
        "rewrite": ["переписать предложение живее", "сделать описание ярче"],
        "drop": ["убрать заглушку в начале"],
    },
    "en": {
        "add": ["add a detail after this sentence", "move the plot forward", "add a scene with the robots"],
        "rewrite": ["rewrite the sentence more vividly", "make the description brighter"],
        "drop": ["remove the placeholder at the start"],
    },
}

REVIEW_REASONS = {
    "ru": {
        True: ["правка в теме и не ломает текст", "хорошо продолжает сюжет"],
        False: ["слишком далеко от темы", "повторяет то, что уже сказано", "ломает ритм абзаца"],
    },
    "en": {
        True: ["on topic and keeps the text coherent", "continues the plot well"],
        False: ["drifts off the topic", "repeats what is already said", "breaks the paragraph's rhythm"],
    },
}

CONFIRM_REASONS = {
    "ru": {True: "место свободно, правки ещё нет", False: "это место уже занято или изменилось"},
    "en": {True: "the place is free and the change is not there yet", False: "the place is taken or has changed"},
}

# Material for composed sentences (a character and a deed, `{a}` the feminine past
# ending in Russian), so that ten agents writing at once rarely repeat each other.
CHARACTERS = {
    "ru": [("Тика", "а"), ("Винт", ""), ("Мира", "а"), ("Лёва", ""), ("Буква", ""),
           ("Робот-садовник", ""), ("Маленькая робот-няня Ида", "а")],
    "en": [("Tika", ""), ("Bolt", ""), ("Mira", ""), ("Leo", ""), ("Letter", ""),
           ("The gardener robot", ""), ("The little nanny robot Ida", "")],
}

DEEDS = {
    "ru": [
        "долго смотрел{a} на огни ремонтных дронов",
        "тихо рассказал{a} малышам сказку про далёкую звезду",
        "заметил{a}, что соседский мальчик грустит у окна",
        "подумал{a}, что доброта похожа на свет, который нельзя выключить",
        "записал{a} в тетрадь ещё один добрый поступок",
        "спросил{a} у звёзд, что значит быть хорошим",
        "починил{a} сломанный фонарь на детской площадке",
        "впервые услышал{a}, как смеются дети во сне",
        "оставил{a} на подоконнике записку со словами поддержки",
        "научил{a} младших роботов говорить «спасибо»",
        "полил{a} цветы у чужого дома",
        "укрыл{a} уснувшего щенка своим тёплым пледом",
    ],
    "en": [
        "watched the lights of the repair drones for a long time",
        "quietly told the little ones a tale about a distant star",
        "noticed that the boy next door was sad by the window",
        "thought that kindness is like a light that cannot be switched off",
        "wrote one more kind deed in the notebook",
        "asked the stars what it means to be good",
        "mended the broken lamp on the playground",
        "heard for the first time how children laugh in their sleep",
        "left a note of encouragement on the windowsill",
        "taught the younger robots to say thank you",
        "watered the flowers by a stranger's house",
        "covered a sleeping puppy with a warm blanket",
    ],
}
