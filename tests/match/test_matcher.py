"""The matcher on short items a desk editor would recognise, one behaviour per test."""

from __future__ import annotations

from monitor.match import Matcher
from monitor.match.explain import render_explanation


def test_dialogue_naming_both_parties_is_relevant_with_marked_snippet(matcher: Matcher) -> None:
    result = matcher.match(
        "Kosovo and Serbia chief negotiators meet in Brussels",
        "The EU envoy hosted the two delegations for talks on the Association of Serb-majority municipalities.",
        "en",
    )
    assert result.relevant
    assert result.rule == "dialogue+both-sides"
    assert "asm" in result.topics
    assert result.meeting_level == "chief-negotiators"
    assert result.snippets[0].startswith("Kosovo and Serbia chief negotiators")
    assert "⟦Kosovo⟧" in result.marked_snippets[0]


def test_inflected_albanian_and_serbian_forms_are_found(matcher: Matcher) -> None:
    sq = matcher.match("Kurti: Serbia po e pengon dialogun në Bruksel", "", "sq")
    sr = matcher.match("Petković: dijalog sa Prištinom u Briselu je u zastoju", "", "sr")
    assert sq.relevant and sr.relevant
    assert "kurti" in sq.actors and "petkovic" in sr.actors


def test_cyrillic_and_latin_give_the_same_decision(matcher: Matcher) -> None:
    cyr = matcher.match("Вучић: дијалог са Приштином се наставља у Бриселу", "", "sr")
    lat = matcher.match("Vučić: dijalog sa Prištinom se nastavlja u Briselu", "", "sr")
    assert cyr.relevant and lat.relevant
    assert (cyr.score, cyr.rule, cyr.topics, cyr.actors) == (lat.score, lat.rule, lat.topics, lat.actors)


def test_other_brussels_dialogues_are_rejected(matcher: Matcher) -> None:
    result = matcher.match(
        "Armenia and Azerbaijan resume EU-facilitated dialogue in Brussels",
        "Delegations met for another round of talks on border delimitation.",
        "en",
    )
    assert not result.relevant


def test_dialogue_in_another_sense_is_rejected(matcher: Matcher) -> None:
    result = matcher.match(
        "Vučić ponovo pozvao studente na dijalog", "Predsednik Srbije kaže da su vrata otvorena.", "sr"
    )
    assert not result.relevant


def test_kosovo_news_without_the_dialogue_is_rejected(matcher: Matcher) -> None:
    result = matcher.match(
        "Pristina hosts regional handball tournament", "Teams from Kosovo and Serbia compete this weekend.", "en"
    )
    assert not result.relevant


def test_one_party_and_a_dialogue_word_without_the_other_party_or_the_eu_is_not_enough(matcher: Matcher) -> None:
    film = matcher.match(
        "Novi film o Beogradu ima oštar dijalog",
        "Snimljen u Novom Beogradu, film ima dobre glumce i živ dijalog, ali slab zaplet.",
        "sr",
    )
    assert not film.relevant
    # The same dialogue word with the other party, or with the EU, in the item is the dialogue.
    both = matcher.match(
        "Vučić: dijalog je jedini put", "Srbija ne želi sukob sa Prištinom, rekao je predsednik.", "sr"
    )
    eu = matcher.match("Vučić: dijalog je jedini put", "Predsednik je to rekao posle razgovora u Briselu.", "sr")
    assert both.relevant and eu.relevant


def test_a_headline_about_another_dialogue_sets_the_sense_of_the_whole_item(matcher: Matcher) -> None:
    title = "Međustranački dijalog o izbornim uslovima nastavljen u Skupštini"
    text = (
        "Sastanak u Beogradu uz posredovanje poslanika EU trajao je tri sata. "
        "„Ovo nije dijalog, nego predstava za Brisel“, rekao je jedan poslanik."
    )
    assert not matcher.match(title, text, "sr").relevant
    # Naming both parties in the item brings the Kosovo–Serbia dialogue back.
    both = matcher.match(title, text + " Isti poslanici prate i dijalog Beograda i Prištine u Briselu.", "sr")
    assert both.relevant


def test_an_eu_envoy_in_a_sentence_about_bosnia_is_not_the_dialogues_envoy(matcher: Matcher) -> None:
    result = matcher.match(
        "EU envoy in Sarajevo warns Dodik over new property law",
        "Serbia's president Aleksandar Vučić said Belgrade respected Bosnia's territorial integrity.",
        "en",
    )
    assert not result.relevant
    assert matcher.match("EU envoy meets Kosovo and Serbia negotiators", "", "en").relevant


def test_both_parties_and_the_eu_in_one_sentence_with_a_topic_of_the_dialogue_is_relevant(matcher: Matcher) -> None:
    result = matcher.match(
        "EU: Pristina and Belgrade end the licence plates dispute",
        "Drivers will be able to cross with either plate from next month.",
        "en",
    )
    assert result.relevant and "plates" in result.topics


def test_local_spellings_of_envoys_and_of_mediation_are_found(matcher: Matcher) -> None:
    envoy = matcher.match("Серенсен у Београду: наставак разговора о таблицама", "", "sr")
    assert envoy.relevant and "sorensen" in envoy.actors
    mediated = matcher.match(
        "Sporazum o energetici postignut posredstvom EU", "Beograd i Priština potpisali su plan.", "sr"
    )
    assert mediated.relevant
    premier = matcher.match("Macut: Srbija ostaje u dijalogu sa Prištinom", "", "sr")
    assert premier.relevant and "macut" in premier.actors


_ELECTION = [
    "PRISTINA — Voters in Kosovo went to the polls on Sunday in a calm election, the central commission said.",
    "Turnout by early afternoon was a little over thirty percent, similar to the last vote.",
    "The governing movement campaigned on jobs, pensions and a cleaner public administration.",
    "Its rivals promised new roads, cheaper electricity bills and help for young families who want to stay.",
    "{passage}",
    "Observers reported long queues at several polling stations in the capital but no serious incidents.",
    "Results from the diaspora, who vote by post, will take about a week to count.",
    "Coalition building is expected to last well into the spring.",
]


def test_a_passing_mention_in_a_long_article_about_something_else_is_not_enough(matcher: Matcher) -> None:
    title = "Kosovo votes in snap parliamentary election"
    passing = "Opposition leaders said the stalled dialogue with Serbia had cost Kosovo friends abroad."
    result = matcher.match(title, " ".join(_ELECTION).format(passage=passing), "en")
    assert not result.relevant
    explained = matcher.explain(title, " ".join(_ELECTION).format(passage=passing), "en")
    assert any("passing mention" in i.reason for i in explained.ignored)
    # A sentence that names what the dialogue is about is a development an editor wants.
    substantive = "Both main parties said they would not form the Association of Serb-majority municipalities."
    assert matcher.match(title, " ".join(_ELECTION).format(passage=passing + " " + substantive), "en").relevant
    # The same passing sentence in a short item is its whole point.
    assert matcher.match(title, passing, "en").relevant


def test_a_headline_about_another_country_sets_the_sense_of_the_item(matcher: Matcher) -> None:
    result = matcher.match(
        "Beograd i Podgorica ponovo razmenjuju ambasadore",
        "Ministri su se sastali u Herceg Novom. Ministar spoljnih poslova Srbije Marko Đurić rekao je da je otvoren "
        "novi dijalog dve države na putu ka EU.",
        "sr",
    )
    assert not result.relevant


def test_one_party_and_dialogue_need_the_other_party_or_the_eu_nearby_not_anywhere(matcher: Matcher) -> None:
    sentences = [
        "Vlada Srbije predstavila je program rada u Skupštini.",
        "Premijer je rekao da će Vlada Srbije, kako je tražio i predsednik Vučić, biti vlada dijaloga i smirenja.",
        "Najavljeno je povećanje plata i penzija.",
        "Biće izgrađeno više novih bolnica.",
        "Opozicija je program nazvala spiskom želja.",
        "Na kraju je pomenuo i građane na Kosovu.",
    ]
    assert not matcher.match("Program nove vlade", " ".join(sentences), "sr").relevant


def test_talks_words_next_to_conditions_are_funding_or_accession_conditions(matcher: Matcher) -> None:
    result = matcher.match(
        "Kosovo gets first EU payment for energy and broadband",
        "Pristina received the money after the European Commission said Kosovo had met the initial conditions.",
        "en",
    )
    assert not result.relevant


def test_abbreviations_marked_exact_case_count_only_as_written(matcher: Matcher) -> None:
    # "bih" is a Serbian verb form ("ne bih rekao": I would not say), "BiH" is Bosnia; "s kim" means
    # "with whom", "KiM" is Kosovo and Metohija. Read without case, the verb voided a dialogue
    # sentence as Bosnian news and "with whom" named Kosovo as a party.
    assert matcher.match("Petković: Ne bih rekao da je dijalog u Briselu završen", "", "sr").relevant
    assert not matcher.match("Šmit u BiH: dijalog u Briselu o reformama", "", "sr").relevant
    assert not matcher.match("Vučić: ne znamo s kim vodimo dijalog u skupštini", "", "sr").relevant
    assert matcher.match("Vučić: dijalog o KiM se nastavlja", "", "sr").relevant
    assert matcher.match("Вучић: дијалог о КиМ се наставља", "", "sr").relevant


def test_a_sense_joined_to_the_dialogue_word_holds_beside_both_parties(matcher: Matcher) -> None:
    youth = matcher.match(
        "Youth dialogue of Kosovo and Serbia opens in Skopje", "Forty participants spend a week in workshops.", "en"
    )
    assert not youth.relevant
    # ... but not where the EU is in the sentence too: that is the dialogue, whatever it is called.
    assert matcher.match(
        "EU-facilitated political dialogue between Kosovo and Serbia resumes in Brussels", "", "en"
    ).relevant


def test_a_headline_naming_another_sense_sets_it_for_the_whole_item(matcher: Matcher) -> None:
    en = matcher.match(
        "Youth dialogue camp opens on Lake Ohrid",
        "Forty young people from Kosovo and Serbia arrived on Monday. Organisers said the dialogue between "
        "Kosovo and Serbia needs fresh faces. The week ends with a concert.",
        "en",
    )
    sq = matcher.match(
        "Dialogu i të rinjve: Kosova dhe Serbia në një kamp në Ohër",
        "Dyzet të rinj nga Kosova dhe Serbia mbërritën të hënën. Organizatorët thonë se dialogu mes Kosovës "
        "dhe Serbisë ka nevojë për fytyra të reja.",
        "sq",
    )
    assert not en.relevant and not sq.relevant
    # A sentence of the same item with both parties and the EU is the dialogue itself.
    with_eu = matcher.match(
        "Youth dialogue camp opens on Lake Ohrid",
        "Forty young people arrived on Monday. The EU envoy said the dialogue between Kosovo and Serbia "
        "resumes in Brussels next week.",
        "en",
    )
    assert with_eu.relevant


def test_the_leads_joined_sense_sets_it_for_the_whole_item(matcher: Matcher) -> None:
    # The headline's "dialogue" is bare; the lead says which one it is.
    title = "Pristina and Belgrade meet again: a week of dialogue in Struga"
    lead = "Thirty people from Kosovo and Serbia took part in an intercultural dialogue week in Struga."
    rest = " They cooked together and visited the monastery."
    assert not matcher.match(title, lead + rest, "en").relevant
    # The same headline over a lead about the talks is the talks.
    assert matcher.match(
        title, "The chief negotiators of Kosovo and Serbia met in Struga, the EU envoy said." + rest, "en"
    ).relevant


def test_youth_and_student_exchanges_are_not_the_talks(matcher: Matcher) -> None:
    for title, text, lang in [
        (
            "Mladi iz Beograda i Prištine na letnjem kampu",
            "Dvadeset srednjoškolaca iz Srbije i sa Kosova razgovaralo je o predrasudama i dijalogu.",
            "sr",
        ),
        (
            "Студенти из Београда и Приштине у размени преко RYCO",
            "Студенти из Србије и са Косова разговарали су о дијалогу и будућности.",
            "sr",
        ),
        (
            "Studentët e Prishtinës dhe Beogradit në shkëmbim studentor",
            "Ata biseduan për dialogun mes Kosovës dhe Serbisë dhe për paragjykimet.",
            "sq",
        ),
    ]:
        assert not matcher.match(title, text, lang).relevant, title
    # The EU facilitating the talks in the same sentence is the dialogue again.
    assert matcher.match(
        "Summer camp closes in Ohrid",
        "The EU envoy told the campers that the dialogue between Kosovo and Serbia resumes in Brussels next week.",
        "en",
    ).relevant


def test_serbian_adjectives_of_pristina_name_the_kosovo_side(matcher: Matcher) -> None:
    # "Prištinska delegacija", "prištinski tim": how Serbian outlets name Kosovo's negotiators.
    result = matcher.match(
        "Prištinska delegacija napustila sastanak sa beogradskim timom",
        "Razgovori su prekinuti posle sat vremena.",
        "sr",
    )
    assert result.relevant and result.rule == "combined:talks+both-sides"


def test_of_equal_passages_the_one_nearer_the_top_gives_the_snippet(matcher: Matcher) -> None:
    # The lead (dialogue, Pristina, the EU: 3 points) and a late aside (both parties and the EU, plus
    # electricity: 3 points) score the same; the editor should see the lead.
    result = matcher.match(
        "Weekly roundup from the region",
        "The EU said the dialogue with Pristina resumes soon. Markets were calm. Weather was mild. A new bridge "
        "opened in Tirana. Football fans celebrated. Kosovo, Serbia and the EU discussed electricity prices.",
        "en",
    )
    assert result.relevant
    assert result.snippets == ("The EU said the dialogue with Pristina resumes soon.",)


def test_belgrades_office_for_kosovo_speaks_for_the_serbian_side(matcher: Matcher) -> None:
    result = matcher.match(
        "Diplome i dalje čekaju",
        "Lekari iz Zvečana i dalje čekaju posao. Kancelarija za Kosovo i Metohiju kaže da je pitanje diploma "
        "pokrenuto u dijalogu.",
        "sr",
    )
    assert result.relevant and result.rule == "dialogue+both-sides"


def test_agreements_named_by_where_they_were_reached(matcher: Matcher) -> None:
    brussels = matcher.match(
        "Ексхумација код Рашке", "Радови се обављају по договору из Брисела. Србија и Косово размењују податке.", "sr"
    )
    ohrid = matcher.match(
        "Vuçiç: Serbia nuk ka nënshkruar asgjë në Ohër", "Presidenti serb foli për televizionin.", "sq"
    )
    assert brussels.relevant and "brussels-agreement" in brussels.topics
    assert ohrid.relevant and "normalisation-agreement" in ohrid.topics


def test_a_dialogue_with_brussels_on_migration_is_not_the_kosovo_one(matcher: Matcher) -> None:
    assert not matcher.match("Vlada o vizama", "Srbija vodi otvoren dijalog sa Briselom o migracijama.", "sr").relevant


def test_explain_says_when_points_without_an_anchor_reach_the_threshold(matcher: Matcher) -> None:
    title = "Diplome iz Mitrovice i dalje problem"
    text = (
        "Beograd i Priština se godinama spore oko diploma i struje. Mladi lekari i dalje čekaju posao. "
        "Procedura traje mesecima. Pečati se vraćaju zbog naziva ustanove. "
        "Ministarstvo prosvete Kosova kaže da je pitanje više puta pokretano u dijalogu."
    )
    explanation = matcher.explain(title, text, "sr")
    assert not explanation.result.relevant and explanation.result.score >= matcher.profile.threshold
    out = render_explanation(explanation, matcher)
    assert "none of it ties the item to the dialogue" in out and "below the threshold" not in out


def test_sport_is_not_the_talks_even_naming_both_parties(matcher: Matcher) -> None:
    # Every draw keeps the two national teams from "meeting": that is not a meeting of the parties.
    for title, text, lang in [
        (
            "Kosovo and Serbia kept apart in the Nations League draw",
            "UEFA's rule stops the two national teams meeting.",
            "en",
        ),
        (
            "Žreb: Srbija i Kosovo opet razdvojeni",
            "UEFA ne dozvoljava da se reprezentacije Srbije i Kosova sastanu u kvalifikacijama.",
            "sr",
        ),
        (
            "Shorti: Kosova dhe Serbia sërish të ndara",
            "UEFA nuk lejon që Kosova dhe Serbia të takohen në kualifikime.",
            "sq",
        ),
    ]:
        assert not matcher.match(title, text, lang).relevant, title
    # With the EU in the sentence it is the talks again, whatever else the sentence mentions.
    assert matcher.match(
        "EU: talks go on despite the football incident",
        "After the football match in Belgrade, the EU said talks between Kosovo and Serbia would continue in Brussels.",
        "en",
    ).relevant


def test_serbian_verb_forms_of_talks_words_are_found(matcher: Matcher) -> None:
    agreed = matcher.match("Beograd i Priština su u Briselu dogovorili priznavanje tablica", "", "sr")
    signed = matcher.match("Курти: у Охриду нико ништа није потписао", "Србија и Косово се споре око анекса.", "sr")
    assert agreed.relevant and "⟦dogovorili⟧" in agreed.marked_snippets[0]
    assert signed.relevant and "normalisation-agreement" in signed.topics


def test_earlier_facilitators_of_the_dialogue_are_known(matcher: Matcher) -> None:
    result = matcher.match("Могерини угостила Вучића и Тачија", "Састанак у Бриселу трајао је три сата.", "sr")
    ashton = matcher.match("Ashton: Dačić and Thaçi close to a deal", "The two prime ministers met again.", "en")
    assert result.relevant and "mogherini" in result.actors
    assert ashton.relevant and "ashton" in ashton.actors


def test_a_headline_dialogue_word_over_a_text_naming_both_parties_is_a_mention(matcher: Matcher) -> None:
    text = (
        "Mnogo je potpisano, malo je primenjeno. Katastar i energetika i dalje čekaju. "
        "Beograd i Priština optužuju jedno drugo za zastoj."
    )
    assert matcher.match("Briselski proces posle deset godina", text, "sr").relevant
    assert matcher.match("Dijalog posle deset godina", text, "sr").relevant
    # A bare "dialogue" in the headline needs both parties in the text ("Briselski" names the EU itself).
    one_party = "Mnogo je potpisano, malo je primenjeno. Katastar i energetika i dalje čekaju u Beogradu."
    assert not matcher.match("Dijalog posle deset godina", one_party, "sr").relevant


def test_serbias_normalisation_with_croatia_is_another_context(matcher: Matcher) -> None:
    text = (
        "Predsednik Srbije primio je hrvatskog premijera u Beogradu. Upitan o Kosovu, rekao je da Srbija "
        "neće priznati nezavisnost Prištine. Razgovarali su o manjinama i o nestalima iz rata."
    )
    assert not matcher.match("Normalizacija sa Zagrebom: Vučić ugostio Plenkovića", text, "sr").relevant
    kosovo = "Vučić i Kurti sastali su se u Briselu sa specijalnim predstavnikom EU."
    assert matcher.match("Normalizacija: novi krug u Briselu", kosovo, "sr").relevant


def test_everyday_verbs_and_nouns_of_the_talks_count_in_every_language(matcher: Matcher) -> None:
    headlines = [
        ("Kosovo and Serbian negotiators sit down again in Brussels", "en"),
        ("Belgrade and Pristina negotiators sat down in Brussels on Friday", "en"),
        ("Negociatorët e Kosovës dhe Serbisë u ulën në Bruksel", "sq"),
        ("Kurti dhe Vuçiq ranë dakord në Bruksel për targat", "sq"),
        ("Prishtina dhe Beogradi biseduan në Bruksel për personat e zhdukur", "sq"),
        ("Beograd i Priština usaglasili tekst u Briselu", "sr"),
        ("Pregovarači Beograda i Prištine sreli su se u Briselu", "sr"),
        ("Serbian negotiators and Kosovo's team met in Brussels", "en"),
        ("Srpski pregovarači i kosovski tim bez dogovora u Briselu", "sr"),
        ("Вучић и Курти нису се сложили у Бриселу", "sr"),
    ]
    missed = [title for title, lang in headlines if not matcher.match(title, "", lang).relevant]
    assert missed == []


def test_conditions_for_the_dialogue_are_the_talks_own_language(matcher: Matcher) -> None:
    resume = "Belgrade must create the conditions for the dialogue to resume, the EU said in Brussels."
    assert matcher.match("EU: conditions for dialogue", resume, "en").relevant
    visas = "Kosovo met the conditions for visa liberalisation long ago, the EU said in Brussels."
    assert not matcher.match("Visa-free travel a year on", visas, "en").relevant


def test_talks_with_the_eu_over_an_agenda_item_anchor_the_item(matcher: Matcher) -> None:
    text = (
        "Drivers at Jarinje now cover the state symbols on their licence plates with stickers, as agreed in "
        "Brussels. Kosovo police units left the crossing overnight and the queues are shorter."
    )
    assert matcher.match("Stickers replace temporary plates at the crossing", text, "en").relevant
    elsewhere = "The EU agreed in Brussels on new rules for its members. Kosovo police held a drill near Pristina."
    assert not matcher.match("New EU rules agreed", elsewhere, "en").relevant


def test_a_sense_word_merely_near_the_headlines_talks_word_does_not_void_the_item(matcher: Matcher) -> None:
    title = "Studenti iz Mitrovice i dalje čekaju primenu sporazuma"
    text = "Sporazum o priznavanju diploma postignut je u dijalogu u Briselu 2011, ali ga Kosovo i dalje ne primenjuje."
    assert matcher.match(title, text, "sr").relevant
    camp = "Studentski dijalog Beograda i Prištine u letnjem kampu"
    assert not matcher.match(camp, "Mladi iz dva grada razgovarali su o muzici.", "sr").relevant


def test_kosovo_and_albanias_own_agreements_and_dialogue_are_another_context(matcher: Matcher) -> None:
    text = (
        "The governments of Kosovo and Albania signed twelve agreements at their joint session in Tirana, "
        "including one on energy. Prime Ministers Rama and Kurti spoke of a lasting dialogue between the two "
        "governments. Rama said the mutual recognition of licences and a common market should come before "
        "EU membership."
    )
    assert not matcher.match("Kosovo and Albania hold joint government session", text, "en").relevant


def test_a_story_from_the_north_names_kosovo_through_its_towns(matcher: Matcher) -> None:
    # No "Kosovo", no "Serbia": the dateline and the towns set the frame of the Brussels agreement.
    title = "Elektrosever sends its first bills to households in the north"
    text = (
        "ZVEČAN - The distribution company started billing customers in Leposavić and Zubin Potok today, "
        "applying the energy agreement reached in the dialogue in Brussels."
    )
    assert matcher.match(title, text, "en").relevant
    sq = (
        "MITROVICË - Kompania filloi sot faturimin në zbatim të marrëveshjes për energjinë "
        "të arritur në dialogun e Brukselit."
    )
    assert matcher.match("Elektrosever nis faturimin në veri", sq, "sq").relevant


def test_a_town_of_the_north_is_not_a_party_in_its_sentence(matcher: Matcher) -> None:
    # "Serbia" and "Mitrovica" in one sentence with a meeting are not the two parties meeting.
    title = "Doctors from Serbia meet Mitrovica hospital staff and sign an agreement on supplies"
    text = "The visiting team brought two ambulances and will return in the spring."
    assert not matcher.match(title, text, "en").relevant


def test_a_diplomat_is_not_the_recognition_of_diplomas(matcher: Matcher) -> None:
    result = matcher.match(
        "Kurti and Vučić to meet in Brussels next week",
        "An EU diplomat said the two leaders would discuss the Association, and nothing else, at the meeting.",
        "en",
    )
    assert result.relevant
    assert "documents" not in result.topics
    diplomas = matcher.match("Kurti e Vuçiq takohen në Bruksel", "Do të flasin për njohjen e diplomave.", "sq")
    assert "documents" in diplomas.topics


def test_the_dialogue_in_the_headline_is_no_passing_mention(matcher: Matcher) -> None:
    # A column whose headline names the Brussels dialogue, and which names the two parties late in
    # the text: not an election report that mentions the talks in passing.
    title = "Opinion: The Brussels dialogue as a waiting room"
    text = (
        "Every few months the same photograph. Two men at the ends of a long table and a diplomat in the middle. "
        "Every few months the same statement about implementation. Then the same silence follows it. "
        "Nothing changes for the people who were promised change. The statements grow longer, the results "
        "shorter. In the end Kosovo and Serbia have not moved an inch in the dialogue since the spring. "
        "Someone should say so aloud."
    )
    result = matcher.match(title, text, "en")
    assert result.relevant
    assert any(s.startswith("Opinion: The Brussels dialogue") for s in result.snippets)


def test_the_dialogue_named_again_with_the_eu_gathers_its_agenda_around_it(matcher: Matcher) -> None:
    # The process named in the headline and again deep in a column, beside its agenda (the Association,
    # documents at the crossings): the second naming brings that agenda into the count.
    title = "Opinion: The Brussels process, a decade of photographs"
    text = (
        "Every few months the same photograph appears. Two men sit at the ends of a long table. "
        "A diplomat sits in the middle and nobody shakes hands. Every few months the same statement follows. "
        "The Association promised in 2013 exists only on paper, while Serbia accepts our documents at the "
        "crossings and nowhere else. The Brussels process has produced more statements than changes in people's "
        "lives. The mediator should say aloud who blocked what."
    )
    assert matcher.match(title, text, "en").relevant


def test_the_serbian_adjective_of_brussels_names_the_eu(matcher: Matcher) -> None:
    # "Briselski dijalog" declined: briselskom, briselskog… (Brisel* alone does not take -skom).
    title = "Elektrosever šalje prve račune domaćinstvima na severu"
    text = (
        "Kompanija je danas počela naplatu u četiri opštine i time primenjuje energetski sporazum postignut "
        "u Briselskom dijalogu. U Prištini kažu da je primena zakasnela, iz Beograda da je to garancija za Srbe."
    )
    result = matcher.match(title, text, "sr")
    assert result.relevant
    assert "energy" in result.topics


def test_talks_on_an_agenda_item_in_the_headline_anchor_an_item_naming_both_parties(matcher: Matcher) -> None:
    title = "Pensioners in the north still cross to Raška as dinar talks go nowhere"
    text = (
        "Dozens of pensioners waited at an exchange office near the river on Tuesday. Since the central bank "
        "of Kosovo ended payments in dinars, pensions from Serbia are paid into accounts across the line. "
        "A pensioner said the trip cost her a day and eight euros every month."
    )
    result = matcher.match(title, text, "en")
    assert result.relevant and "dinar" in result.topics
    # Talks of another field in the headline stay what they are: no topic of the dialogue beside them.
    wages = "Wage talks go nowhere as teachers strike"
    other = "Teachers in Kosovo and Serbia both walked out this week. In Pristina the union wants 15 percent."
    assert not matcher.match(wages, other, "en").relevant


def test_another_partys_agreements_naming_both_parties_need_the_eu_to_be_the_talks(matcher: Matcher) -> None:
    # Belgrade's agreements with Beijing, whose support "for Serbia on Kosovo" names both parties.
    title = "Vučić u Pekingu: potpisano dvanaest sporazuma, Kina uz Srbiju oko Kosova"
    text = "Predsednik Srbije i kineski lider razgovarali su o investicijama. Potpisani su sporazumi o putevima."
    assert not matcher.match(title, text, "sr").relevant
    # With the EU in the sentence it is the dialogue again, whatever else the sentence compares it to.
    brussels = "Kosovo and Serbia agreed in Brussels on the energy roadmap, unlike the stalled Cyprus talks."
    assert matcher.match("A deal at last", brussels, "en").relevant


def test_a_leaders_dialogue_with_the_people_is_another_sense(matcher: Matcher) -> None:
    title = "A 'dialogue with the people': Kurti answers questions live on TikTok"
    text = (
        "Prime Minister Albin Kurti spent two hours answering viewers' questions about bread prices and jobs. "
        "The comments filled with insults, and at one point with Serbian flags."
    )
    assert not matcher.match(title, text, "en").relevant
    sr = "Vučić najavio „dijalog sa narodom“ u Kragujevcu: pitanja o platama i Kosovu"
    assert not matcher.match(sr, "Predsednik Srbije odgovaraće građanima na pitanja u subotu.", "sr").relevant


def test_the_eus_economic_and_human_rights_dialogues_with_one_party_are_other_senses(matcher: Matcher) -> None:
    economic = "EU and Serbia hold high-level economic dialogue in Belgrade"
    text = "The Commission and the Serbian government reviewed fiscal rules and the energy transition."
    assert not matcher.match(economic, text, "en").relevant
    rights = "EU i Srbija održali dijalog o ljudskim pravima u Beogradu"
    assert not matcher.match(rights, "Razgovarano je o slobodi medija i pravima manjina.", "sr").relevant
    # The dialogue itself, with both parties and the EU, still counts.
    talks = "Kosovo and Serbia resume the EU-facilitated dialogue on economic issues in Brussels"
    assert matcher.match(talks, "", "en").relevant
