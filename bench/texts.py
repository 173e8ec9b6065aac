"""Sentence templates for the feed farm, written for it, in four language forms.

``dialogue_story`` writes an item about the Kosovo–Serbia dialogue (it names the dialogue and a
party, so a correct matcher must flag it); ``filler_story`` writes everyday news that must NOT be
flagged. Some filler items are near misses on purpose: they name a party (Belgrade, Kosovo…)
or use the word "dialogue" about something else, never both, and never a topic of the profile.

Serbian Cyrillic is the Serbian Latin text transliterated, as outlets that publish both do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

LANGUAGE_FORMS = ("en", "sq", "sr-Latn", "sr-Cyrl")


@dataclass(frozen=True, slots=True)
class Story:
    title: str
    paragraphs: tuple[str, ...]  # plain text; the farm adds the markup


# ---------------------------------------------------------------- slots


_PEOPLE = {
    "en": {
        "eu": ["EU envoy Peter Sørensen", "EU Special Representative Miroslav Lajčák", "EU envoy Sorensen"],
        "kneg": ["Kosovo's chief negotiator Besnik Bislimi", "Besnik Bislimi"],
        "sneg": ["Serbia's chief negotiator Petar Petković", "Petar Petković"],
        "kpm": ["Prime Minister Albin Kurti", "Albin Kurti"],
        "spres": ["President Aleksandar Vučić", "Aleksandar Vučić"],
    },
    "sq": {
        "eu": ["i dërguari i BE-së Peter Sorensen", "përfaqësuesi special i BE-së Miroslav Lajçak"],
        "kneg": ["kryenegociatori i Kosovës Besnik Bislimi", "Besnik Bislimi"],
        "sneg": ["kryenegociatori i Serbisë Petar Petkoviq", "Petar Petkoviq"],
        "kpm": ["kryeministri Albin Kurti", "Albin Kurti"],
        "spres": ["presidenti serb Aleksandar Vuçiç", "Aleksandar Vuçiç"],
    },
    "sr": {
        "eu": ["specijalni izaslanik EU Peter Sorensen", "izaslanik EU Miroslav Lajčak"],
        "kneg": ["glavni pregovarač Prištine Besnik Bislimi", "Besnik Bislimi"],
        "sneg": ["šef kancelarije Petar Petković", "Petar Petković"],
        "kpm": ["premijer Albin Kurti", "Albin Kurti"],
        "spres": ["predsednik Aleksandar Vučić", "Aleksandar Vučić"],
    },
}

_WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    "sq": ["të hënën", "të martën", "të mërkurën", "të enjten", "të premten"],
    "sr": ["u ponedeljak", "u utorak", "u sredu", "u četvrtak", "u petak"],
}

_CITIES = {
    "en": ["Prizren", "Peja", "Gjakova", "Novi Sad", "Niš", "Kragujevac", "Ferizaj", "Subotica", "Gjilan"],
    "sq": ["Prizren", "Pejë", "Gjakovë", "Ferizaj", "Gjilan", "Vushtrri", "Podujevë", "Suharekë"],
    "sr": ["Novi Sad", "Niš", "Kragujevac", "Subotica", "Čačak", "Kraljevo", "Zrenjanin", "Valjevo"],
}

# ---------------------------------------------------------------- dialogue stories

_DIALOGUE_TITLES = {
    "en": [
        "Chief negotiators of Kosovo and Serbia meet in Brussels for a new round of the dialogue",
        "{eu} urges Belgrade and Pristina to return to the dialogue",
        "Dialogue on normalisation: Kosovo and Serbia discuss the Association of Serb-majority municipalities",
        "No progress in the Kosovo–Serbia dialogue after {n} hours of talks",
        "{kpm} and {spres} to meet in Brussels under the EU-facilitated Kosovo–Serbia dialogue",
        "Brussels agreement back on the table as the dialogue between Kosovo and Serbia resumes",
    ],
    "sq": [
        "Kryenegociatorët e Kosovës dhe Serbisë takohen në Bruksel në një raund të ri të dialogut",
        "{eu} u bën thirrje Prishtinës dhe Beogradit të rikthehen në dialog",
        "Dialogu për normalizimin: Kosova dhe Serbia diskutojnë Asociacionin e komunave me shumicë serbe",
        "Asnjë përparim në dialogun Kosovë–Serbi pas {n} orësh takimesh",
        "{kpm} dhe {spres} takohen në Bruksel në kuadër të dialogut Kosovë–Serbi",
        "Marrëveshja e Brukselit sërish në tryezë ndërsa rifillon dialogu mes Kosovës dhe Serbisë",
    ],
    "sr": [
        "Glavni pregovarači Beograda i Prištine sastaju se u Briselu u novoj rundi dijaloga",
        "{eu} pozvao Beograd i Prištinu da se vrate dijalogu",
        "Dijalog o normalizaciji: Srbija i Kosovo o Zajednici srpskih opština",
        "Bez napretka u dijalogu Beograda i Prištine posle {n} sati razgovora",
        "{kpm} i {spres} sastaće se u Briselu u okviru dijaloga Beograda i Prištine",
        "Briselski sporazum ponovo na stolu dok se nastavlja dijalog Srbije i Kosova",
    ],
}

_DIALOGUE_SENTENCES = {
    "en": [
        "{eu} hosted {kneg} and {sneg} on {weekday} for what the EU called a working meeting of the dialogue.",
        "The two sides discussed the implementation of earlier agreements reached in the dialogue "
        "between Kosovo and Serbia.",
        "According to a statement issued after the meeting, Belgrade and Pristina agreed to meet again "
        "within {n} weeks.",
        "{kneg} said that Serbia had not yet fulfilled its obligations under the agreement on the path "
        "to normalisation.",
        "{sneg} accused Pristina of taking unilateral steps in the north and said the dialogue was the "
        "only way forward.",
        "Diplomats in Brussels say that without the Association of Serb-majority municipalities the "
        "dialogue will not move.",
        "The EU has repeatedly said that progress in the dialogue is a condition for both Kosovo and "
        "Serbia on their European path.",
        "A trilateral meeting at the level of chief negotiators was postponed at short notice, officials said.",
    ],
    "sq": [
        "{eu} priti {weekday} {kneg} dhe {sneg} në një takim pune të dialogut.",
        "Palët diskutuan zbatimin e marrëveshjeve të arritura më herët në dialogun mes Kosovës dhe Serbisë.",
        "Sipas një deklarate pas takimit, Prishtina dhe Beogradi u pajtuan të takohen sërish brenda {n} javësh.",
        "{kneg} tha se Serbia ende nuk i ka përmbushur detyrimet nga marrëveshja për normalizimin e marrëdhënieve.",
        "{sneg} e akuzoi Prishtinën për hapa të njëanshëm në veri dhe tha se dialogu është e vetmja rrugë.",
        "Diplomatët në Bruksel thonë se pa Asociacionin e komunave me shumicë serbe dialogu nuk ecën përpara.",
        "BE ka thënë disa herë se përparimi në dialog është kusht për Kosovën dhe Serbinë në rrugën evropiane.",
        "Takimi trepalësh në nivel të kryenegociatorëve u shty në momentin e fundit, thanë zyrtarët.",
    ],
    "sr": [
        "{eu} ugostio je {weekday} {kneg} i {sneg} na radnom sastanku u okviru dijaloga.",
        "Dve strane razgovarale su o primeni ranije postignutih dogovora u dijalogu Beograda i Prištine.",
        "Prema saopštenju izdatom posle sastanka, Beograd i Priština dogovorili su novi susret u roku od {n} nedelja.",
        "{kneg} rekao je da Srbija još nije ispunila obaveze iz sporazuma o putu ka normalizaciji.",
        "{sneg} optužio je Prištinu za jednostrane poteze na severu i rekao da je dijalog jedini put.",
        "Diplomate u Briselu kažu da bez Zajednice srpskih opština dijalog neće napredovati.",
        "EU je više puta ponovila da je napredak u dijalogu uslov za Srbiju i Kosovo na evropskom putu.",
        "Trilateralni sastanak na nivou glavnih pregovarača odložen je u poslednjem trenutku, rekli su zvaničnici.",
    ],
}

# ---------------------------------------------------------------- everyday news (must not match)

_FILLER_TITLES = {
    "en": [
        "Heavy rain expected in {city} over the weekend",
        "{city} football club signs a young striker",
        "Farmers in {city} report a record plum harvest",
        "New children's ward opens at the hospital in {city}",
        "Book fair in {city} draws {n} thousand visitors",
        "Prices of bread and milk rise for the third month in a row",
        "Start-up from {city} raises funds for a farming app",
        "Roadworks close the main street in {city} for {n} days",
        "Jazz festival returns to {city} with {n} concerts",
        "Local basketball team wins the regional cup",
    ],
    "sq": [
        "Shi i dendur pritet në {city} gjatë fundjavës",
        "Klubi i futbollit nga {city} nënshkruan me një sulmues të ri",
        "Fermerët në {city} raportojnë rekord në vjeljen e kumbullave",
        "Hapet reparti i ri për fëmijë në spitalin e {city}",
        "Panairi i librit në {city} tërheq {n} mijë vizitorë",
        "Çmimet e bukës dhe qumështit rriten për të tretin muaj radhazi",
        "Ndërmarrja e re nga {city} siguron fonde për një aplikacion bujqësor",
        "Punimet mbyllin rrugën kryesore në {city} për {n} ditë",
        "Festivali i xhazit rikthehet në {city} me {n} koncerte",
    ],
    "sr": [
        "Obilne padavine očekuju se u {city} tokom vikenda",
        "Fudbalski klub iz {city} doveo mladog napadača",
        "Voćari iz {city} beleže rekordan rod šljive",
        "Otvoreno novo dečje odeljenje bolnice u {city}",
        "Sajam knjiga u {city} posetilo {n} hiljada ljudi",
        "Cene hleba i mleka rastu treći mesec zaredom",
        "Mlada firma iz {city} prikupila sredstva za aplikaciju za poljoprivrednike",
        "Radovi zatvaraju glavnu ulicu u {city} na {n} dana",
        "Džez festival se vraća u {city} sa {n} koncerata",
    ],
}

_FILLER_SENTENCES = {
    "en": [
        "Forecasters said temperatures would drop by {n} degrees by Sunday evening.",
        "The club's director told reporters the contract runs for {n} seasons.",
        "Growers said the warm spring and late rain helped the orchards.",
        "The new ward has {n} beds and was paid for by the municipality and a private donor.",
        "Organisers said this year's programme included more than {n} authors from the region.",
        "Shop owners blame higher costs for energy, transport and packaging.",
        "The company plans to hire {n} developers by the end of next year.",
        "Drivers are advised to use the ring road while the pipes are replaced.",
        "Tickets for the opening night sold out within hours, the organisers said.",
        "Residents complained about noise and dust but welcomed the new pavements.",
        "The mayor of {city} said the works would finish before the school year.",
        "Local schools will take part in a reading competition in the spring.",
    ],
    "sq": [
        "Meteorologët thanë se temperaturat do të bien për {n} gradë deri të dielën në mbrëmje.",
        "Drejtori i klubit u tha gazetarëve se kontrata zgjat {n} sezona.",
        "Kultivuesit thanë se pranvera e ngrohtë dhe shirat e vonë i ndihmuan pemishtet.",
        "Reparti i ri ka {n} shtretër dhe u financua nga komuna dhe një donator privat.",
        "Organizatorët thanë se programi i këtij viti përfshin më shumë se {n} autorë nga rajoni.",
        "Tregtarët fajësojnë kostot më të larta të energjisë, transportit dhe paketimit.",
        "Kompania planifikon të punësojë {n} programues deri në fund të vitit të ardhshëm.",
        "Shoferëve u këshillohet të përdorin rrugën unazore derisa të ndërrohen gypat.",
        "Biletat për mbrëmjen e hapjes u shitën brenda pak orësh, thanë organizatorët.",
        "Banorët u ankuan për zhurmën dhe pluhurin, por mirëpritën trotuaret e reja.",
        "Kryetari i {city} tha se punimet do të përfundojnë para vitit shkollor.",
        "Shkollat vendore do të marrin pjesë në një garë leximi në pranverë.",
    ],
    "sr": [
        "Meteorolozi kažu da će temperatura do nedelje uveče pasti za {n} stepeni.",
        "Direktor kluba rekao je novinarima da ugovor traje {n} sezone.",
        "Voćari kažu da su topao prolećni period i kasne kiše pomogli voćnjacima.",
        "Novo odeljenje ima {n} kreveta, a finansirali su ga opština i privatni donator.",
        "Organizatori navode da ovogodišnji program obuhvata više od {n} autora iz regiona.",
        "Trgovci krive veće troškove energije, prevoza i ambalaže.",
        "Kompanija planira da do kraja sledeće godine zaposli {n} programera.",
        "Vozačima se savetuje da koriste obilaznicu dok traje zamena cevi.",
        "Ulaznice za večer otvaranja rasprodate su za nekoliko sati, rekli su organizatori.",
        "Stanari su se žalili na buku i prašinu, ali su pozdravili nove trotoare.",
        "Gradonačelnik grada {city} rekao je da će radovi biti završeni pre školske godine.",
        "Lokalne škole učestvovaće u takmičenju u čitanju na proleće.",
    ],
}

# Near misses: a party without the dialogue, or the word "dialogue" without a party.
_NEAR_MISS_TITLES = {
    "en": [
        "Belgrade marathon draws a record field of runners",
        "Kosovo's under-21 team wins a friendly on penalties",
        "Theatre festival in {city} opens a dialogue between generations",
        "Serbia's wine exports grow by {n} percent",
    ],
    "sq": [
        "Maratona e Prishtinës tërheq numër rekord vrapuesish",
        "Përfaqësuesja e Kosovës U21 fiton ndeshjen miqësore me penallti",
        "Festivali i teatrit në {city} hap një dialog mes brezave",
    ],
    "sr": [
        "Beogradski maraton okupio rekordan broj trkača",
        "Izvoz vina iz Srbije porastao za {n} odsto",
        "Pozorišni festival u {city} otvara dijalog među generacijama",
    ],
}


def transliterate_sr(text: str) -> str:
    """Serbian Latin → Cyrillic (digraphs first), as bilingual outlets publish it."""
    for latin, cyrillic in _SR_DIGRAPHS:
        text = text.replace(latin, cyrillic)
    return "".join(_SR_LETTERS.get(ch, ch) for ch in text)


_SR_DIGRAPHS = (
    ("Lj", "Љ"), ("LJ", "Љ"), ("lj", "љ"), ("Nj", "Њ"), ("NJ", "Њ"), ("nj", "њ"),
    ("Dž", "Џ"), ("DŽ", "Џ"), ("dž", "џ"),
)  # fmt: skip
_SR_LETTERS = dict(
    zip(
        "abvgdđežzijklmnoprstćufhcčšABVGDĐEŽZIJKLMNOPRSTĆUFHCČŠ",
        "абвгдђежзијклмнопрстћуфхцчшАБВГДЂЕЖЗИЈКЛМНОПРСТЋУФХЦЧШ",
        strict=True,
    )
)


# ---------------------------------------------------------------- a small grammar for everyday news
#
# Template sentences alone repeat the same word triples across thousands of items, so that the
# store's near-duplicate clustering (word 3-shingles of the lead, LSH) finds hundreds of false
# candidates per item and joins unrelated items into one story: nothing like real news, and a
# cost no real farm of feeds has. Real leads differ by their names, places, numbers and wording;
# this grammar writes sentences that do (TIME SUBJECT VERB OBJECT PLACE TAIL, every slot drawn,
# names made from syllables), and the templates above are mixed in as the common phrases real
# reports also share. Nothing here names a party of the dialogue or the dialogue itself.

_SYLLABLES = (
    "ba", "dri", "ko", "le", "mi", "na", "ra", "sto", "ve", "zo", "lu", "ter", "an", "gor", "vik",
    "del", "sha", "pe", "tri", "un", "bre", "fi", "jan", "mar", "ol", "rin", "se", "tu", "var", "xhe",
)  # fmt: skip

_GRAMMAR: dict[str, dict[str, list[str]]] = {
    "en": {
        "time": ["On {weekday}", "Early on {weekday}", "Since {month}", "On {n} {month}", "Last {weekday}"],
        "role": ["director", "head", "spokeswoman", "spokesman", "manager", "founder", "coach", "chief engineer",
                 "treasurer", "chairwoman", "owner", "head teacher"],
        "org": ["Dairy Cooperative", "Football Club", "Town Theatre", "Water Utility", "Bakery", "Primary School",
                "Chess Club", "Bus Company", "Choir", "Farmers' Market", "Sawmill", "Health Centre", "Fire Brigade",
                "Ski Resort", "Vineyard", "Youth Centre"],
        "verb": ["announced", "confirmed", "opened", "postponed", "signed", "unveiled", "criticised", "approved",
                 "cancelled", "extended", "inspected", "presented", "celebrated", "promised", "repaired", "doubled"],
        "thing": ["the {town} bus line", "the {town} playground", "the {town} harvest festival",
                  "the {town} library wing", "the {town} bread oven", "the {town} cycling route", "the {town} park",
                  "the {town} swimming pool", "the {town} timetable", "a tender", "a tree planting day",
                  "the {town} reading room", "the {town} footbridge", "a kindergarten", "the {town} farmers' fair",
                  "a solar roof", "the {town} summer camp", "a cheese workshop", "the {town} bell tower",
                  "a water tank"],
        "place": ["in {village}", "near {village}", "outside {village}", "in {village} and {village2}"],
        "tail": ["worth {n} thousand euros", "after {n} months of delays", "with {n} volunteers", "for {n} pupils",
                 "with {n} neighbours", "for {n} thousand euros", "by {n} votes"],
        "months": ["January", "February", "March", "April", "May", "June", "September", "October"],
    },
    "sq": {
        "time": ["{Weekday}", "Herët {weekday}", "Që nga {month}", "Më {n} {month}"],
        "role": ["drejtori", "drejtoresha", "zëdhënësi", "zëdhënësja", "menaxheri", "themeluesi", "trajneri",
                 "kryeinxhinieri", "arkëtari", "pronari", "mësuesi kryesor"],
        "org": ["i kooperativës", "i klubit", "i teatrit", "i ujësjellësit", "i furrës", "i shkollës", "i kompanisë",
                "i korit", "i tregut", "i sharrës", "i spitalit", "i zjarrfikësve", "i vreshtit", "i qendrës"],
        "verb": ["njoftoi", "konfirmoi", "hapi", "shtyu", "nënshkroi", "prezantoi", "kritikoi", "miratoi",
                 "anuloi", "zgjati", "inspektoi", "festoi", "premtoi", "riparoi", "dyfishoi"],
        "thing": ["linjë autobusi", "kënd lojërash", "festival të korrjes", "krah të bibliotekës",
                  "furrë buke", "shteg për biçikleta", "park", "pishinë", "orar të ri",
                  "tender", "ditë mbjelljeje pemësh", "sallë leximi", "urë për këmbësorë",
                  "kopsht fëmijësh", "panair fermerësh", "çati diellore", "kamp veror",
                  "punëtori djathi", "kullë kambanash", "rezervuar uji"],
        "place": ["në {village}", "afër {village}", "jashtë {village}", "në {village} dhe {village2}"],
        "tail": ["me vlerë {n} mijë euro", "pas {n} muajsh vonesë", "me {n} vullnetarë", "për {n} nxënës",
                 "me {n} fqinjë", "për {n} mijë euro", "me {n} vota"],
        "months": ["janari", "shkurti", "marsi", "prilli", "maji", "qershori", "shtatori", "tetori"],
    },
    "sr": {
        "time": ["{Weekday}", "Rano {weekday}", "Od {month}", "{n}. {month}"],
        "role": ["direktor", "direktorka", "portparol", "menadžer", "osnivač", "trener", "glavni inženjer",
                 "blagajnik", "vlasnik", "vlasnica", "upravnica škole"],
        "org": ["zadruge", "kluba", "pozorišta", "vodovoda", "pekare", "škole", "preduzeća", "hora", "pijace",
                "pilane", "bolnice", "vatrogasaca", "skijališta", "vinarije"],
        "verb": ["najavio je", "potvrdio je", "otvorio je", "odložio je", "potpisao je", "predstavio je",
                 "kritikovao je", "odobrio je", "otkazao je", "produžio je", "obišao je", "proslavio je",
                 "obećao je", "popravio je", "udvostručio je"],
        "thing": ["novu autobusku liniju", "igralište", "festival berbe", "novo krilo biblioteke", "krušnu peć",
                  "biciklističku stazu", "park", "bazen", "novi red vožnje", "tender", "dan sadnje drveća",
                  "čitaonicu", "pešački most", "vrtić", "sajam poljoprivrednika", "solarni krov", "letnji kamp",
                  "radionicu sira", "zvonik", "rezervoar za vodu"],
        "place": ["u mestu {village}", "kod mesta {village}", "izvan mesta {village}",
                  "u mestima {village} i {village2}"],
        "tail": ["vrednu {n} hiljada evra", "posle {n} meseci kašnjenja", "sa {n} volontera", "za {n} učenika",
                 "uz pomoć {n} komšija", "za {n} hiljada evra", "sa {n} glasova"],
        "months": ["januara", "februara", "marta", "aprila", "maja", "juna", "septembra", "oktobra"],
    },
}  # fmt: skip


def _made_name(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def grammar_sentence(form: str, rng: random.Random) -> str:
    """One everyday-news sentence from the grammar: who did what, where, when, with a figure."""
    lang = _base(form)
    words = _GRAMMAR[lang]
    weekday = rng.choice(_WEEKDAYS[lang])
    slots = {
        "weekday": weekday,
        "Weekday": weekday[0].upper() + weekday[1:],
        "month": rng.choice(words["months"]),
        "village": _made_name(rng),
        "village2": _made_name(rng),
        "town": _made_name(rng),
        "n": str(rng.randint(2, 400)),
    }
    subject = f"{_made_name(rng)} {_made_name(rng)}ić" if lang == "sr" else f"{_made_name(rng)} {_made_name(rng)}"
    if lang == "en":
        subject += f", {rng.choice(words['role'])} of {_made_name(rng)} {rng.choice(words['org'])}"
    else:
        subject += f", {rng.choice(words['role'])} {rng.choice(words['org'])} {_made_name(rng)}"
    parts = [rng.choice(words["time"]) + ",", subject + ",", rng.choice(words["verb"]), rng.choice(words["thing"])]
    parts.append(rng.choice(words["place"]))
    if rng.random() < 0.7:
        parts.append(rng.choice(words["tail"]))
    text = " ".join(parts).format(**slots) + "."
    text = text[0].upper() + text[1:]
    return transliterate_sr(text) if form == "sr-Cyrl" else text


def _base(form: str) -> str:
    return "sr" if form.startswith("sr") else form


def _fill(template: str, form: str, rng: random.Random) -> str:
    lang = _base(form)
    people = _PEOPLE[lang]
    text = template.format(
        eu=rng.choice(people["eu"]),
        kneg=rng.choice(people["kneg"]),
        sneg=rng.choice(people["sneg"]),
        kpm=rng.choice(people["kpm"]),
        spres=rng.choice(people["spres"]),
        weekday=rng.choice(_WEEKDAYS[lang]),
        city=rng.choice(_CITIES[lang]),
        n=rng.randint(2, 40),
    )
    text = text[0].upper() + text[1:]
    return transliterate_sr(text) if form == "sr-Cyrl" else text


def _paragraphs(
    pool: list[str], count: int, form: str, rng: random.Random, grammar_share: float = 0.0
) -> tuple[str, ...]:
    """``count`` paragraphs of 2-4 sentences from ``pool``, about ``grammar_share`` of them from the grammar."""
    paragraphs = []
    for _ in range(count):
        sentences = rng.sample(pool, k=min(len(pool), rng.randint(2, 4)))  # templates, some replaced below
        share = grammar_share
        written = (grammar_sentence(form, rng) if rng.random() < share else _fill(t, form, rng) for t in sentences)
        paragraphs.append(" ".join(written))
    return tuple(paragraphs)


def dialogue_story(form: str, paragraphs: int, rng: random.Random) -> Story:
    """An item about the dialogue: its title names the dialogue and a party."""
    lang = _base(form)
    title = _fill(rng.choice(_DIALOGUE_TITLES[lang]), form, rng)
    # Everyday sentences around the dialogue ones, as real reports have.
    body = list(_paragraphs(_DIALOGUE_SENTENCES[lang], paragraphs, form, rng))
    # Each report of the talks has its own details (who else spoke, where, figures): one grammar
    # sentence per paragraph, so reports of different days are not near-duplicates of each other.
    body = [f"{paragraph} {grammar_sentence(form, rng)}" for paragraph in body]
    if paragraphs > 2:
        body.insert(rng.randint(1, len(body) - 1), _paragraphs(_FILLER_SENTENCES[lang], 1, form, rng, 0.75)[0])
    return Story(title, tuple(body))


def filler_story(form: str, paragraphs: int, rng: random.Random, near_miss: bool = False) -> Story:
    """Everyday news that is not about the dialogue (a near miss names a party or 'dialogue', not both)."""
    lang = _base(form)
    titles = _NEAR_MISS_TITLES[lang] if near_miss else _FILLER_TITLES[lang]
    title = _fill(rng.choice(titles), form, rng)
    return Story(title, _paragraphs(_FILLER_SENTENCES[lang], paragraphs, form, rng, grammar_share=0.9))
