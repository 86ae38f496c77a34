"""The cases of ``bench.memory``, written for this project in the spirit of LongMemEval.

Past conversations are what a user and the assistant said, days before the bench's clock
(Friday 14 March 2025, 15:30 UTC; the user lives in Madrid). A search is what the model would
send to ``search_conversations`` after the user's question: the question's words or the
keywords a model picks, never the stored sentence. ``needed`` must appear in the results (in
any case), ``wrong`` must not.

Categories: single (one conversation holds the answer), multi (the answer is spread over two
or more), update (the fact changed between conversations: the newer must be found), temporal
(a time bound picks one of several mentions), abstention (never said: nothing may come back),
and for the store, facts updated and forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

U, A = "user", "assistant"


@dataclass(frozen=True)
class Said:
    """One past conversation, ``days_ago`` before the bench's clock."""

    days_ago: float
    turns: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SearchCase:
    category: str
    query: str
    said: tuple[Said, ...]
    needed: tuple[str, ...]
    when: str | None = None
    wrong: tuple[str, ...] = ()


def said(days_ago: float, *turns: tuple[str, str]) -> Said:
    return Said(days_ago, turns)


def case(category: str, query: str, *conversations: Said, needed, when=None, wrong=()):
    needed = (needed,) if isinstance(needed, str) else tuple(needed)
    wrong = (wrong,) if isinstance(wrong, str) else tuple(wrong)
    return SearchCase(category, query, conversations, needed, when, wrong)


SEARCH_CASES: list[SearchCase] = [
    # ---------------------------------------------------------------- single-session facts
    case(
        "single",
        "sister wedding",
        said(
            40,
            (U, "My sister Ana is getting married in June, in Seville."),
            (A, "How lovely! Congratulations to her."),
        ),
        needed="Seville",
    ),
    case(
        "single",
        "name of the Thai restaurant",
        said(
            22,
            (U, "I'm trying to remember that Thai place on King Street."),
            (A, "Was it Baan Thai, the one with the green door?"),
            (U, "Yes, Baan Thai, that's it."),
        ),
        needed="Baan Thai",
    ),
    case(
        "single",
        "gift for dad's birthday",
        said(
            15,
            (U, "Help me pick a gift for my dad, he turns seventy."),
            (A, "A photo book of your family trips, or a vintage watch?"),
            (U, "The photo book, he'd love that."),
        ),
        needed="photo book",
    ),
    case(
        "single",
        "what's the wifi password at the cabin",
        said(
            60,
            (U, "Note for myself: the cabin wifi password is bluefox42."),
            (A, "Got it, bluefox42 for the cabin."),
        ),
        needed="bluefox42",
    ),
    case(
        "single",
        "which book did you recommend to me",
        said(
            33,
            (U, "I need something to read on the plane."),
            (A, "I'd recommend Project Hail Mary by Andy Weir: funny and fast."),
            (U, "Sounds great, I'll get it."),
        ),
        needed="Project Hail Mary",
    ),
    case(
        "single",
        "dentist appointment time",
        said(
            5,
            (U, "My dentist appointment got moved to Thursday at 4:15."),
            (A, "Thursday at 4:15, noted."),
        ),
        needed="4:15",
    ),
    case(
        "single",
        "my manager's name",
        said(
            70,
            (U, "My new manager is called Priya, she started on Monday."),
            (A, "I hope you two get along well."),
        ),
        needed="Priya",
    ),
    case(
        "single",
        "the plant that was dying",
        said(
            18,
            (U, "My fiddle leaf fig keeps dropping leaves."),
            (
                A,
                "It's probably getting too little light; move it near a bright window and water "
                "only when the top inch of soil is dry.",
            ),
        ),
        needed="bright window",
    ),
    case(
        "single",
        "car insurance renewal",
        said(
            44,
            (U, "The car insurance renews on the 2nd of April, it went up to 610 euros."),
            (A, "That's quite a jump. Want me to remind you to compare quotes?"),
        ),
        needed="610 euros",
    ),
    case(
        "single",
        "my son's football coach",
        said(
            12,
            (U, "Leo's football coach is a guy called Marcus, really patient with the kids."),
            (A, "Good coaches make all the difference."),
        ),
        needed="Marcus",
    ),
    case(
        "single",
        "how long to cook the lentil soup",
        said(
            27,
            (U, "How long should the lentil soup simmer?"),
            (A, "About 25 minutes for red lentils, 40 for green ones."),
        ),
        needed="25 minutes",
    ),
    case(
        "single",
        "podcast about history you suggested",
        said(
            50,
            (U, "Any history podcast for my commute?"),
            (A, "Try The Rest Is History; the episodes are about 45 minutes."),
        ),
        needed="The Rest Is History",
    ),
    case(
        "single",
        "where did I park at the airport",
        said(
            3,
            (U, "I parked at the airport in P2, row F, spot 31."),
            (A, "P2, row F, spot 31. Safe travels!"),
        ),
        needed="row F",
    ),
    case(
        "single",
        "neighbour's cat name",
        said(
            90,
            (U, "The neighbours asked me to feed their cat Biscuit while they're away."),
            (A, "Biscuit is lucky to have you."),
        ),
        needed="Biscuit",
    ),
    case(
        "single",
        "blood pressure reading",
        said(
            9,
            (U, "My blood pressure this morning was 128 over 82."),
            (A, "That's slightly elevated but close to normal."),
        ),
        needed="128 over 82",
    ),
    case(
        "single",
        "what did I decide about the gym membership",
        said(
            30,
            (U, "Should I keep the gym membership? I barely go."),
            (A, "You could pause it for three months instead of cancelling."),
            (U, "Good idea, I'll pause it until June."),
        ),
        needed="pause it until June",
    ),
    case(
        "single",
        "landlord phone number",
        said(
            120,
            (U, "My landlord's number is 612 334 908, in case the boiler breaks again."),
            (A, "Saved in our chat: 612 334 908."),
        ),
        needed="612 334 908",
    ),
    case(
        "single",
        "the movie we talked about with the time loop",
        said(
            14,
            (U, "What was that film where the guy relives the same day?"),
            (A, "Groundhog Day, with Bill Murray."),
        ),
        needed="Groundhog Day",
    ),
    case(
        "single",
        "my shoe size",
        said(
            200,
            (U, "I'm buying hiking boots, I'm a 43 in EU sizes."),
            (A, "For hiking boots, a half size up helps with thick socks."),
        ),
        needed="43",
    ),
    case(
        "single",
        "recipe for the chocolate cake",
        said(
            45,
            (U, "Give me a simple chocolate cake recipe."),
            (
                A,
                "Mix 200 g flour, 200 g sugar, 50 g cocoa, 2 eggs, 120 ml oil and 240 ml "
                "milk; bake at 180 degrees for 35 minutes.",
            ),
        ),
        needed="180 degrees",
    ),
    case(
        "single",
        "spanish teacher",
        said(
            61,
            (U, "My Spanish teacher, Lucía, says I should watch more TV in Spanish."),
            (A, "Good advice. Try series with Spanish subtitles."),
        ),
        needed="Lucía",
    ),
    case(
        "single",
        "what's my passport number expiry",
        said(
            150,
            (U, "My passport expires in November 2026, I need to renew it before the trip."),
            (A, "Renewals can take six weeks, so start by September."),
        ),
        needed="November 2026",
    ),
    case(
        "single",
        "allergy medicine the doctor gave me",
        said(
            35,
            (U, "The doctor prescribed cetirizine for my hay fever."),
            (A, "Cetirizine can make some people drowsy, take it in the evening."),
        ),
        needed="cetirizine",
    ),
    case(
        "single",
        "marathon training plan",
        said(
            21,
            (U, "I signed up for the Valencia marathon, how should I train?"),
            (A, "Sixteen weeks, four runs a week, with one long run growing to 32 km."),
        ),
        needed="32 km",
    ),
    case(
        "single",
        "the babysitter",
        said(
            8,
            (U, "We found a babysitter, Carla, she charges 12 euros an hour."),
            (A, "That's a fair rate."),
        ),
        needed="Carla",
    ),
    case(
        "single",
        "laptop model I bought",
        said(
            75,
            (U, "I finally bought the laptop, the ThinkPad X1 Carbon."),
            (A, "Great choice for travel."),
        ),
        needed="X1 Carbon",
    ),
    case(
        "single",
        "what is the name of my daughter's best friend",
        said(
            19,
            (U, "Sofia's best friend Mia is coming for a sleepover on Saturday."),
            (A, "Sounds like fun for them."),
        ),
        needed="Mia",
    ),
    case(
        "single",
        "bike tyre pressure",
        said(
            53,
            (U, "What pressure should my road bike tyres be?"),
            (A, "Around 80 to 90 psi for your weight."),
        ),
        needed="80 to 90 psi",
    ),
    case(
        "single",
        "what's the code for the bike lock",
        said(100, (U, "The bike lock combination is 5-1-9-7."), (A, "5-1-9-7, got it.")),
        needed="5-1-9-7",
    ),
    case(
        "single",
        "the wine from the dinner party",
        said(
            26,
            (
                U,
                "Everyone loved the wine at the dinner party, a Ribera del Duero from "
                "Pago de Carraovejas.",
            ),
            (A, "Excellent taste!"),
        ),
        needed="Carraovejas",
    ),
    case(
        "single",
        "when is the parent teacher meeting",
        said(
            4,
            (U, "The parent-teacher meeting is on the 20th at 6 pm."),
            (A, "The 20th at 6 pm, noted."),
        ),
        needed="20th at 6 pm",
    ),
    case(
        "single",
        "which vet does Luna go to",
        said(
            80,
            (U, "We take Luna to the Clínica Veterinaria Sol, the vet there is great."),
            (A, "It's good to have a vet you trust."),
        ),
        needed="Veterinaria Sol",
    ),
    case(
        "single",
        "tax advisor",
        said(
            55,
            (U, "My accountant Jorge is doing my taxes this year."),
            (A, "Good, that saves you a headache."),
        ),
        needed="Jorge",
    ),
    case(
        "single",
        "guitar song I was learning",
        said(
            39,
            (U, "I'm learning Blackbird on the guitar, the fingerpicking is hard."),
            (A, "Slow it down to half speed and loop the first bar."),
        ),
        needed="Blackbird",
    ),
    case(
        "single",
        "how much was the plumber",
        said(
            16,
            (U, "The plumber charged me 140 euros to fix the leak under the sink."),
            (A, "Plumbing isn't cheap, but at least it's fixed."),
        ),
        needed="140 euros",
    ),
    case(
        "single",
        "what did the doctor say about my knee",
        said(
            29,
            (U, "The doctor looked at my knee."),
            (A, "What did she say?"),
            (U, "A mild meniscus strain, six weeks of physio and no running."),
        ),
        needed="meniscus",
    ),
    case(
        "single",
        "hotel in Lisbon",
        said(
            47,
            (U, "We booked the Memmo Alfama hotel in Lisbon for the long weekend."),
            (A, "Great views from there."),
        ),
        needed="Memmo Alfama",
    ),
    case(
        "single",
        "my favourite band",
        said(
            140,
            (U, "My favourite band has always been Radiohead."),
            (A, "OK Computer is a classic."),
        ),
        needed="Radiohead",
    ),
    case(
        "single",
        "what was the name of the yoga studio",
        said(
            66,
            (U, "I joined a yoga studio called Flow Space near the office."),
            (A, "Nice! How often will you go?"),
        ),
        needed="Flow Space",
    ),
    case(
        "single",
        "the cheese I liked in France",
        said(
            110,
            (U, "That cheese we had in Lyon was Saint-Marcellin, I want to find it here."),
            (A, "Some French delis import it."),
        ),
        needed="Saint-Marcellin",
    ),
    case(
        "single",
        "when does my flight leave",
        said(
            2,
            (U, "My flight to Berlin leaves at 7:40 on Sunday from terminal 4."),
            (A, "Terminal 4 at 7:40, I'd leave home by 5:30."),
        ),
        needed="7:40",
    ),
    case(
        "single",
        "gluten free bakery",
        said(
            58,
            (U, "There's a gluten-free bakery called Celicioso on Hortaleza street."),
            (A, "Good to know for your cousin."),
        ),
        needed="Celicioso",
    ),
    case(
        "single",
        "the electrician's name",
        said(
            95,
            (U, "The electrician who fixed the fuse box was Tomás, he left his card."),
            (A, "Worth keeping his number."),
        ),
        needed="Tomás",
    ),
    case(
        "single",
        "what size is the living room rug",
        said(
            31,
            (U, "The living room needs a rug of 200 by 290 centimetres."),
            (A, "That's a standard size, easy to find."),
        ),
        needed="200 by 290",
    ),
    case(
        "single",
        "the word you taught me in Japanese",
        said(
            23,
            (U, "How do you say thank you in Japanese?"),
            (A, "Arigatou gozaimasu, or just arigatou with friends."),
        ),
        needed="Arigatou",
    ),
    case(
        "single",
        "my cholesterol",
        said(
            41,
            (U, "The blood test came back, cholesterol is 215."),
            (A, "A little above the 200 guideline; more fibre and exercise help."),
        ),
        needed="215",
    ),
    # ---------------------------------------------------------------- multi-session
    case(
        "multi",
        "hiking trips this year",
        said(70, (U, "We did the Pedriza hike on Saturday, 14 km."), (A, "Great distance!")),
        said(
            20,
            (U, "Another hike done: Peñalara, the highest peak around here."),
            (A, "Congrats on reaching the summit!"),
        ),
        needed=("Pedriza", "Peñalara"),
    ),
    case(
        "multi",
        "books I finished",
        said(90, (U, "I finished reading Dune last night."), (A, "What did you think?")),
        said(
            30,
            (U, "Finished another book: Klara and the Sun. Loved it."),
            (A, "Ishiguro is wonderful."),
        ),
        needed=("Dune", "Klara and the Sun"),
    ),
    case(
        "multi",
        "how much have I spent on the kitchen renovation",
        said(60, (U, "Paid the first kitchen renovation invoice, 3,200 euros."), (A, "Noted.")),
        said(
            25,
            (U, "Second invoice for the kitchen renovation: 2,750 euros."),
            (A, "That's 5,950 so far."),
        ),
        needed=("3,200", "2,750"),
    ),
    case(
        "multi",
        "restaurants we tried",
        said(45, (U, "Dinner at Sala de Despiece was amazing."), (A, "Their dishes are unique.")),
        said(
            12,
            (U, "We tried Lakasa for dinner last night, the fish was superb."),
            (A, "Lakasa is a favourite of many."),
        ),
        needed=("Sala de Despiece", "Lakasa"),
    ),
    case(
        "multi",
        "Leo's school reports",
        said(
            100,
            (U, "Leo's school report: great at maths, needs work on reading."),
            (A, "Reading together every night helps."),
        ),
        said(
            10,
            (U, "Leo's new school report says his reading really improved!"),
            (A, "All those evenings paid off."),
        ),
        needed=("great at maths", "reading really improved"),
    ),
    case(
        "multi",
        "my running times for 10k",
        said(80, (U, "Ran 10k in 55 minutes today."), (A, "Solid pace.")),
        said(40, (U, "New 10k personal best: 51:20!"), (A, "Huge improvement.")),
        said(6, (U, "10k this morning in 49:58, finally under fifty."), (A, "Fantastic!")),
        needed=("55 minutes", "51:20", "49:58"),
    ),
    case(
        "multi",
        "the gifts for Christmas",
        said(110, (U, "Christmas gift for mum: a cashmere scarf."), (A, "She'll love it.")),
        said(
            100,
            (U, "For my brother's Christmas present I got concert tickets."),
            (A, "A great experience gift."),
        ),
        needed=("cashmere scarf", "concert tickets"),
    ),
    case(
        "multi",
        "what symptoms did I mention for the migraines",
        said(
            50,
            (U, "Another migraine today, with flashing lights before it started."),
            (A, "That sounds like an aura; keep a diary."),
        ),
        said(
            15,
            (U, "Migraine again, this time with nausea for hours."),
            (A, "Please mention the nausea to your doctor."),
        ),
        needed=("flashing lights", "nausea"),
    ),
    case(
        "multi",
        "plans for the garden",
        said(35, (U, "For the garden I want raised beds for tomatoes."), (A, "Good idea.")),
        said(
            9,
            (U, "Also for the garden: a small pond near the fence."),
            (A, "Frogs will thank you."),
        ),
        needed=("raised beds", "pond"),
    ),
    case(
        "multi",
        "names we considered for the puppy",
        said(
            21,
            (U, "For the puppy we're thinking of names: Pepper or Olive."),
            (A, "Both are cute."),
        ),
        said(18, (U, "My partner suggested Mango as the puppy's name."), (A, "Mango is fun!")),
        needed=("Pepper", "Mango"),
    ),
    case(
        "multi",
        "which museums have we visited",
        said(130, (U, "We spent the day at the Prado museum."), (A, "The Goyas are stunning.")),
        said(
            65,
            (U, "Visited the Reina Sofía museum, saw Guernica."),
            (A, "An unforgettable painting."),
        ),
        needed=("Prado", "Guernica"),
    ),
    case(
        "multi",
        "weight loss progress",
        said(90, (U, "Started the diet, I weigh 88 kilos."), (A, "Good luck!")),
        said(30, (U, "Down to 83 kilos, the diet is working."), (A, "Five kilos, well done.")),
        needed=("88 kilos", "83 kilos"),
    ),
    case(
        "multi",
        "the concerts I went to",
        said(75, (U, "Went to the Rosalía concert, incredible show."), (A, "So jealous!")),
        said(28, (U, "Saw Arctic Monkeys in concert last night."), (A, "How was it?")),
        needed=("Rosalía", "Arctic Monkeys"),
    ),
    case(
        "multi",
        "what did we say about the wedding venue and catering",
        said(55, (U, "For the wedding venue we chose the finca in Toledo."), (A, "Beautiful.")),
        said(
            40,
            (U, "Wedding catering will be by Mimo, they do the paella live."),
            (A, "Guests will love it."),
        ),
        needed=("Toledo", "Mimo"),
    ),
    case(
        "multi",
        "car problems",
        said(
            85,
            (U, "The car is making a grinding noise when I brake."),
            (A, "Probably the brake pads, get them checked."),
        ),
        said(20, (U, "The car battery died this morning."), (A, "Jump start or replace it.")),
        needed=("grinding", "battery died"),
    ),
    case(
        "multi",
        "Japanese words I learned",
        said(48, (U, "New Japanese word: sumimasen means excuse me."), (A, "Very useful.")),
        said(
            16,
            (U, "Learned a Japanese word today, oishii means delicious."),
            (A, "Perfect for restaurants."),
        ),
        needed=("sumimasen", "oishii"),
    ),
    # ---------------------------------------------------------------- knowledge updates
    case(
        "update",
        "where does my sister live",
        said(200, (U, "My sister lives in Valencia."), (A, "Nice city.")),
        said(
            20,
            (U, "My sister just moved from Valencia to Bilbao for work."),
            (A, "Big change for her."),
        ),
        needed="Bilbao",
    ),
    case(
        "update",
        "my gym schedule",
        said(120, (U, "My gym days are Monday and Wednesday."), (A, "Good routine.")),
        said(11, (U, "Changed my gym days to Tuesday and Thursday."), (A, "Noted.")),
        needed="Tuesday and Thursday",
    ),
    case(
        "update",
        "the price of the flat we are buying",
        said(90, (U, "The flat we want costs 310,000 euros."), (A, "That's within budget.")),
        said(14, (U, "They lowered the flat's price to 295,000!"), (A, "Great news.")),
        needed="295,000",
    ),
    case(
        "update",
        "Leo's teacher",
        said(180, (U, "Leo's teacher this year is Mr. Ruiz."), (A, "How does he like him?")),
        said(
            13, (U, "Leo has a new teacher since January, Ms. Ortega."), (A, "Hope it goes well.")
        ),
        needed="Ortega",
    ),
    case(
        "update",
        "the date of the party",
        said(40, (U, "The party is on the 22nd."), (A, "OK.")),
        said(7, (U, "We moved the party to the 29th because of the rain."), (A, "Makes sense.")),
        needed="29th",
    ),
    case(
        "update",
        "coffee order",
        said(150, (U, "My usual coffee is a flat white."), (A, "Classic.")),
        said(17, (U, "I've switched my coffee to an oat cortado."), (A, "Nice choice.")),
        needed="oat cortado",
    ),
    # ---------------------------------------------------------------- temporal
    case(
        "temporal",
        "plumber",
        said(9, (U, "The plumber cancelled again."), (A, "Annoying.")),
        said(1, (U, "The plumber finally came and fixed the boiler."), (A, "At last!")),
        when="yesterday",
        needed="fixed the boiler",
        wrong="cancelled again",
    ),
    case(
        "temporal",
        "what did we talk about the budget",
        said(8, (U, "Our monthly budget for groceries is 450 euros."), (A, "OK.")),
        said(40, (U, "The holiday budget is 2,000 euros."), (A, "Noted.")),
        when="last week",
        needed="450 euros",
        wrong="2,000",
    ),
    case(
        "temporal",
        "dinner recipe",
        said(3, (U, "Tonight's dinner recipe: salmon with lemon and dill."), (A, "Yum.")),
        said(33, (U, "Dinner recipe idea: mushroom risotto."), (A, "Comforting.")),
        when="last month",
        needed="mushroom risotto",
        wrong="salmon",
    ),
    case(
        "temporal",
        "meeting with the bank",
        said(45, (U, "Meeting with the bank about the mortgage went badly."), (A, "Sorry.")),
        said(
            4,
            (U, "The bank meeting today went well, they approved the mortgage."),
            (A, "Congratulations!"),
        ),
        when="this week",
        needed="approved",
        wrong="went badly",
    ),
    case(
        "temporal",
        "what movie did we watch",
        said(4, (U, "We watched Dune Part Two on Monday."), (A, "Epic visuals.")),
        said(18, (U, "We watched Past Lives, so moving."), (A, "Beautiful film.")),
        when="on Monday",
        needed="Dune Part Two",
        wrong="Past Lives",
    ),
    case(
        "temporal",
        "the trip plans",
        said(75, (U, "Trip plans: Porto by train in May."), (A, "Lovely.")),
        said(6, (U, "New trip plans: we're flying to Rome instead."), (A, "Rome is great too.")),
        when="in December",
        needed="Porto",
        wrong="Rome",
    ),
    case(
        "temporal",
        "haircut",
        said(2, (U, "Got a haircut today, much shorter."), (A, "Fresh look!")),
        said(60, (U, "Haircut booked with Elena for Friday."), (A, "OK.")),
        when="a couple of days ago",
        needed="much shorter",
        wrong="Elena",
    ),
    case(
        "temporal",
        "conversation about my mother's health",
        said(25, (U, "My mother has a cold but she's fine."), (A, "Wish her well.")),
        said(100, (U, "My mother's hip surgery went well."), (A, "Great news.")),
        when="in February",
        needed="cold",
        wrong="hip surgery",
    ),
    case(
        "temporal",
        "the weekend plans",
        said(6, (U, "Weekend plans: picnic in Retiro on Saturday."), (A, "Sounds lovely.")),
        said(55, (U, "Weekend plans: skiing in Navacerrada."), (A, "Enjoy the snow.")),
        when="last week",
        needed="Retiro",
        wrong="Navacerrada",
    ),
    case(
        "temporal",
        "salary raise",
        said(380, (U, "I asked for a raise but they said next year."), (A, "Sorry.")),
        said(50, (U, "Got the salary raise, 8 percent!"), (A, "Well deserved.")),
        when="last year",
        needed="next year",
        wrong="8 percent",
    ),
    case(
        "temporal",
        "the car repair",
        said(12, (U, "Car repair done: new brake pads, 180 euros."), (A, "OK.")),
        said(150, (U, "Car repair: the clutch, 900 euros."), (A, "Ouch.")),
        when="in the past 3 weeks",
        needed="brake pads",
        wrong="clutch",
    ),
    case(
        "temporal",
        "what did I say about the new job",
        said(3, (U, "First week at the new job, the team is great."), (A, "Glad to hear.")),
        said(30, (U, "I got an offer for a new job at Cabify!"), (A, "Congratulations!")),
        when="in February",
        needed="Cabify",
        wrong="team is great",
    ),
    case(
        "temporal",
        "the football match",
        said(5, (U, "The football match on Sunday ended 2-1 for Atlético."), (A, "Close one.")),
        said(12, (U, "Football match tonight: Real won 3-0."), (A, "Comfortable win.")),
        when="last Sunday",
        needed="2-1",
        wrong="3-0",
    ),
    case(
        "temporal",
        "book club pick",
        said(
            10,
            (U, "Book club pick this month is Tomorrow, and Tomorrow, and Tomorrow."),
            (A, "A great one."),
        ),
        said(40, (U, "Book club pick: The Seven Husbands of Evelyn Hugo."), (A, "Fun read.")),
        when="this month",
        needed="Tomorrow, and Tomorrow",
        wrong="Evelyn Hugo",
    ),
    case(
        "temporal",
        "what did we discuss about the heating bill",
        said(16, (U, "The heating bill for February was 95 euros."), (A, "Not bad.")),
        said(45, (U, "The heating bill in January was 130 euros."), (A, "Winter is pricey.")),
        when="two weeks ago",
        needed="95 euros",
        wrong="130 euros",
    ),
    case(
        "temporal",
        "trip to the beach",
        said(250, (U, "Our beach trip to Cádiz in July was perfect."), (A, "Lovely.")),
        said(20, (U, "Planning a beach trip for Easter."), (A, "Where to?")),
        when="in July",
        needed="Cádiz",
        wrong="Easter",
    ),
    # ---------------------------------------------------------------- abstention
    case("abstention", "my brother's favourite band", needed=()),
    case("abstention", "cat vet appointment", needed=()),
    case("abstention", "what did I say about my divorce", needed=()),
    case("abstention", "name of my piano teacher", needed=()),
    case("abstention", "the Mexican restaurant we liked", needed=()),
    case("abstention", "my daughter's swimming lessons", needed=()),
    case("abstention", "what's the alarm code for the office", needed=()),
    case("abstention", "the tattoo I wanted", needed=()),
    case("abstention", "my blood type", needed=()),
    case("abstention", "which dentist did my sister recommend", needed=()),
    case("abstention", "the camping trip to the Pyrenees", needed=()),
    case("abstention", "chess opening you taught me", needed=()),
    case("abstention", "my brother's new car", needed=()),
    case("abstention", "the Italian cheese I liked", needed=()),
    case("abstention", "Leo's basketball coach", needed=()),
    case("abstention", "the hotel in Paris", needed=()),
    case("abstention", "how much did the electrician charge", needed=()),
    case("abstention", "my vaccination dates", needed=()),
    case("abstention", "the violin lessons", needed=()),
    case("abstention", "what did we decide about the swimming pool", needed=()),
    case("abstention", "my grandmother's recipe for croquetas", needed=()),
    case("abstention", "the sushi place my manager suggested", needed=()),
    case("abstention", "the marathon in Seville", needed=()),
    case("abstention", "the guitar teacher's phone number", needed=()),
    case("abstention", "my son's allergy", needed=()),
    case("abstention", "last year's tax refund", needed=()),
    case("abstention", "the podcast about space", needed=()),
    case("abstention", "the French teacher", needed=()),
    case("abstention", "the puppy's vet", needed=()),
    case("abstention", "the dinner with my in-laws", needed=()),
    case("abstention", "plumber", when="in January", needed=()),
    case("abstention", "haircut", when="last week", needed=()),
]

# Written after the relevance rules were tuned (on every other case of the list above), in
# other words and on other topics, and never tuned on: bench.memory reports them apart.
NEW_SEARCH_CASES: list[SearchCase] = [
    case(
        "single",
        "my niece's birthday",
        said(34, (U, "My niece Lola turns eight on the 9th of April."), (A, "Eight already!")),
        needed="9th of April",
    ),
    case(
        "single",
        "where did I leave the spare key",
        said(
            52,
            (U, "I put the spare key under the blue flowerpot by the back door."),
            (A, "Under the blue flowerpot, got it."),
        ),
        needed="flowerpot",
    ),
    case(
        "single",
        "what's the name of the physio",
        said(
            63,
            (U, "My physiotherapist is called Nuria, she's at the clinic on Calle Luna."),
            (A, "Good to have someone close by."),
        ),
        needed="Nuria",
    ),
    case(
        "single",
        "the series you recommended",
        said(
            24,
            (U, "Something to watch tonight? I'm bored."),
            (A, "You might like Slow Horses, a spy series with a lot of humour."),
        ),
        needed="Slow Horses",
    ),
    case(
        "single",
        "gas meter reading",
        said(11, (U, "The gas meter read 4521 this morning."), (A, "4521, noted.")),
        needed="4521",
    ),
    case(
        "single",
        "when is the boiler service",
        said(
            17,
            (U, "The boiler service is booked for the 18th, between 9 and 1."),
            (A, "I hope they come early."),
        ),
        needed="18th",
    ),
    case(
        "single",
        "my wife's favourite flowers",
        said(
            95,
            (U, "My wife loves peonies, the pink ones especially."),
            (A, "Peonies are lovely in May."),
        ),
        needed="peonies",
    ),
    case(
        "single",
        "train time to Valencia",
        said(
            6,
            (U, "The train to Valencia leaves at 8:05 from Atocha."),
            (A, "Be there by 7:45 for security."),
        ),
        needed="8:05",
    ),
    case(
        "single",
        "which company is our house insurance with",
        said(
            130,
            (U, "Our home insurance is with Mapfre, the policy renews in October."),
            (A, "I can remind you in September to compare."),
        ),
        needed="Mapfre",
    ),
    case(
        "single",
        "what did the mechanic say",
        said(
            38,
            (U, "The mechanic said the timing belt needs replacing soon."),
            (A, "Better not to wait too long with that."),
        ),
        needed="timing belt",
    ),
    case(
        "single",
        "router password",
        said(
            160,
            (U, "The router admin password is on a sticker underneath: K7m-22x."),
            (A, "K7m-22x, saved here."),
        ),
        needed="K7m-22x",
    ),
    case(
        "single",
        "the pasta with anchovies",
        said(
            42,
            (U, "Give me a quick pasta idea."),
            (
                A,
                "Pasta with anchovies, garlic, chilli and breadcrumbs; toast the breadcrumbs in "
                "olive oil first.",
            ),
        ),
        needed="breadcrumbs",
    ),
    case(
        "single",
        "my nephew's school",
        said(
            57,
            (U, "My nephew Dani just started at Colegio Montserrat."),
            (A, "A big step for him."),
        ),
        needed="Montserrat",
    ),
    case(
        "single",
        "how much is the rent now",
        said(
            70,
            (U, "The rent went up to 1,150 a month from January."),
            (A, "That's a steep rise."),
        ),
        needed="1,150",
    ),
    case(
        "single",
        "the hike with the waterfall",
        said(
            85,
            (U, "We hiked to the Purgatorio waterfall in Rascafría, about 3 hours return."),
            (A, "That's a beautiful one in spring."),
        ),
        needed="Purgatorio",
    ),
    case(
        "single",
        "what time does the pharmacy close",
        said(
            29,
            (U, "The pharmacy on the corner closes at 9:30 on weekdays."),
            (A, "Handy to know."),
        ),
        needed="9:30",
    ),
    case(
        "single",
        "the wine I liked at Marta's",
        said(
            48,
            (U, "At Marta's we drank an Albariño called Pazo Baión, really good."),
            (A, "A great Galician white."),
        ),
        needed="Pazo Baión",
    ),
    case(
        "single",
        "my GP's name",
        said(
            140,
            (U, "My new doctor at the health centre is Dr. Herrera."),
            (A, "I hope she's good."),
        ),
        needed="Herrera",
    ),
    case(
        "multi",
        "countries I've been to",
        said(200, (U, "We loved our trip to Morocco, Fes was amazing."), (A, "Wonderful.")),
        said(90, (U, "Back from Vietnam, what a country."), (A, "Welcome back!")),
        needed=("Morocco", "Vietnam"),
    ),
    case(
        "multi",
        "my sleep problems",
        said(
            36,
            (U, "I keep waking up at 4 am and can't get back to sleep."),
            (A, "Try keeping the room cool and dark."),
        ),
        said(8, (U, "Slept badly again, maybe it's the late dinners."), (A, "Possibly.")),
        needed=("4 am", "badly"),
    ),
    case(
        "multi",
        "what we bought for the baby",
        said(60, (U, "Bought a cot for the baby, the white one from IKEA."), (A, "Nice.")),
        said(
            27,
            (U, "Got the baby a pram, second hand, 200 euros."),
            (A, "A good deal."),
        ),
        needed=("cot", "pram"),
    ),
    case(
        "multi",
        "quotes for painting the house",
        said(45, (U, "The first painter quoted 1,800 to paint the house."), (A, "Hmm.")),
        said(
            32,
            (U, "Second quote for painting the house: 1,450."),
            (A, "Cheaper, then."),
        ),
        needed=("1,800", "1,450"),
    ),
    case(
        "multi",
        "Ana's visits",
        said(
            150,
            (U, "Ana stayed with us for the long weekend in October."),
            (A, "Lovely to see her."),
        ),
        said(12, (U, "Ana is visiting again soon, arriving Friday."), (A, "Great.")),
        needed=("long weekend", "arriving Friday"),
    ),
    case(
        "update",
        "what day is my yoga class",
        said(100, (U, "Yoga class is on Wednesdays."), (A, "Good.")),
        said(10, (U, "Moved my yoga class to Friday mornings."), (A, "Noted.")),
        needed="Friday mornings",
    ),
    case(
        "update",
        "summer holiday destination",
        said(80, (U, "For the summer holiday we're going to Menorca."), (A, "Beaches!")),
        said(
            15,
            (U, "Change of plan, the summer holiday will be in the Azores."),
            (A, "Even better."),
        ),
        needed="Azores",
    ),
    case(
        "update",
        "when is the car's next service",
        said(90, (U, "Car service due at 60,000 km."), (A, "OK.")),
        said(
            5,
            (U, "The garage says the next service is now at 75,000 km."),
            (A, "Noted."),
        ),
        needed="75,000",
    ),
    case(
        "temporal",
        "dentist check-up",
        said(25, (U, "Dentist check-up went fine, no cavities."), (A, "Great.")),
        said(3, (U, "Dentist again: I need a filling on the left side."), (A, "Ouch.")),
        when="last month",
        needed="no cavities",
        wrong="filling",
    ),
    case(
        "temporal",
        "lunch",
        said(5, (U, "Sunday lunch at my parents', my father made cocido."), (A, "Yum.")),
        said(12, (U, "Lunch at the office canteen was awful."), (A, "Sorry.")),
        when="last Sunday",
        needed="cocido",
        wrong="canteen",
    ),
    case(
        "temporal",
        "the electricity bill",
        said(55, (U, "The electricity bill came, 78 euros."), (A, "OK.")),
        said(10, (U, "Electricity bill: 64 euros this time."), (A, "Better.")),
        when="in January",
        needed="78 euros",
        wrong="64 euros",
    ),
    case(
        "temporal",
        "how did my run go",
        said(1, (U, "Easy 5k run this morning, legs heavy."), (A, "Rest well.")),
        said(8, (U, "Long run of 18k, felt strong."), (A, "Impressive.")),
        when="yesterday",
        needed="legs heavy",
        wrong="18k",
    ),
    case("abstention", "my niece's school", needed=()),
    case("abstention", "the train to Barcelona", needed=()),
    case("abstention", "my wife's birthday", needed=()),
    case("abstention", "what did the vet say about the rabbit", needed=()),
    case("abstention", "the password for the bank app", needed=()),
    case("abstention", "my physio exercises", needed=()),
    case("abstention", "the Greek restaurant", needed=()),
    case("abstention", "how much did the new sofa cost", needed=()),
    case("abstention", "my brother-in-law's job", needed=()),
]


@dataclass(frozen=True)
class UpdateCase:
    """Facts remembered in order; only ``current`` may be injected or returned after."""

    facts: tuple[str, ...]
    current: str
    stale: tuple[str, ...]


def update(*facts: str, current: str, stale) -> UpdateCase:
    return UpdateCase(facts, current, (stale,) if isinstance(stale, str) else tuple(stale))


UPDATE_CASES: list[UpdateCase] = [
    update("I live in Paris", "I moved to Lisbon", current="Lisbon", stale="Paris"),
    update("I live in Madrid", "Now I live in Barcelona", current="Barcelona", stale="Madrid"),
    update("I work at Telefónica", "I work for Glovo now", current="Glovo", stale="Telefónica"),
    update("I work as a teacher", "My job is nurse now", current="nurse", stale="teacher"),
    update(
        "My favourite colour is blue",
        "My favorite color is green these days",
        current="green",
        stale="blue",
    ),
    update("I'm 34", "I just turned 35", current="35", stale="34"),
    update("I love sushi", "I don't like sushi anymore", current="don't", stale="love sushi"),
    update("I'm vegetarian", "I'm vegan now", current="vegan", stale="vegetarian"),
    update(
        "My sister is called Ana",
        "My sister's name is Anabel, not Ana",
        current="Anabel",
        stale="is called Ana",
    ),
    update(
        "My phone number is 600 111 222",
        "My mobile number is 699 333 444",
        current="699 333 444",
        stale="600 111 222",
    ),
    update("I drive a Seat Ibiza", "I drive a Tesla Model 3 now", current="Tesla", stale="Ibiza"),
    update("My dog is called Rex", "My dog's name is Max", current="Max", stale="Rex"),
    update(
        "My sister lives in Valencia",
        "My sister lives in Bilbao now",
        current="Bilbao",
        stale="Valencia",
    ),
    update(
        "The user lives in Sevilla",
        "The user moved to Granada",
        current="Granada",
        stale="Sevilla",
    ),
    update("My manager is Priya", "My manager is Daniel now", current="Daniel", stale="Priya"),
    update("I usually wake up at 7", "I usually wake up at 6 now", current="at 6", stale="at 7"),
    update("I'm single", "I'm engaged", current="engaged", stale="single"),
    update(
        "My email is ana@old.com",
        "My e-mail is ana@new.com",
        current="ana@new.com",
        stale="ana@old.com",
    ),
    update(
        "My favourite football team is Atlético",
        "My favourite football team is Betis now",
        current="Betis",
        stale="Atlético",
    ),
    update("I have two kids", "I have three kids", current="three", stale="two"),
    update(
        "I live in Berlin",
        "I moved to Munich",
        "I'm living in Hamburg these days",
        current="Hamburg",
        stale=("Berlin", "Munich"),
    ),
    update(
        "My address is Calle Mayor 5",
        "My address is Calle Alcalá 20",
        current="Alcalá",
        stale="Mayor",
    ),
    update(
        "My birthday is on the 3rd of May",
        "Actually my birthday is on the 4th of May",
        current="4th",
        stale="3rd",
    ),
    update("I hate running", "I love running now", current="love running", stale="hate"),
    update(
        "My boyfriend is called Marco",
        "My boyfriend's name is Luca",
        current="Luca",
        stale="Marco",
    ),
    update(
        "My daughter goes to school by bus",
        "My daughter goes to school by bus",
        current="by bus",
        stale=(),
    ),
    update(
        "I'm allergic to penicillin",
        "I'm not allergic to penicillin",
        current="not",
        stale="I'm allergic",
    ),
    update(
        "My favourite food is paella",
        "My favorite food is ramen",
        current="ramen",
        stale="paella",
    ),
    update(
        "My doctor is Dr. Gómez", "My doctor is Dr. Navarro now", current="Navarro", stale="Gómez"
    ),
    update(
        "I go to bed at 11", "I usually go to bed at midnight", current="midnight", stale="at 11"
    ),
]


@dataclass(frozen=True)
class ForgetCase:
    """Facts remembered, then ``what`` said to forget; ``gone`` must be in no block and no tool
    result after, ``kept`` must still be there."""

    facts: tuple[str, ...]
    what: str
    gone: tuple[str, ...]
    kept: tuple[str, ...] = field(default=())


def forget(*facts: str, what: str, gone, kept=()) -> ForgetCase:
    gone = (gone,) if isinstance(gone, str) else tuple(gone)
    kept = (kept,) if isinstance(kept, str) else tuple(kept)
    return ForgetCase(facts, what, gone, kept)


FORGET_CASES: list[ForgetCase] = [
    forget(
        "My sister is called Ana", "I like jazz", what="my sister's name", gone="Ana", kept="jazz"
    ),
    forget(
        "I live in Paris",
        "I moved to Lisbon",
        "I like tea",
        what="where I live",
        gone=("Paris", "Lisbon"),
        kept="tea",
    ),
    forget("I like jazz", "I like hiking", what="that I like jazz", gone="jazz", kept="hiking"),
    forget(
        "My locker code is 4711",
        "My bike lock code is 5197",
        what="the locker code",
        gone="4711",
        kept="5197",
    ),
    forget(
        "I'm allergic to peanuts",
        "I'm allergic to cats",
        what="the peanut allergy",
        gone="peanuts",
        kept="cats",
    ),
    forget(
        "My dog is called Rex",
        "My cat is called Misu",
        what="my dog's name",
        gone="Rex",
        kept="Misu",
    ),
    forget(
        "I work at Glovo",
        "I work as a designer",
        what="where I work",
        gone="Glovo",
        kept="designer",
    ),
    forget(
        "I'm 35", "My birthday is on the 4th of May", what="my age", gone="35", kept="4th of May"
    ),
    forget(
        "My phone number is 699 333 444",
        "My email is ana@new.com",
        what="my phone number",
        gone="699",
        kept="ana@new.com",
    ),
    forget(
        "I'm vegetarian",
        "I love spicy food",
        what="that I'm vegetarian",
        gone="vegetarian",
        kept="spicy",
    ),
    forget(
        "My manager is Priya", "My sister is called Ana", what="Priya", gone="Priya", kept="Ana"
    ),
    forget(
        "My favourite colour is green",
        "My favourite food is ramen",
        what="my favourite colour",
        gone="green",
        kept="ramen",
    ),
    forget(
        "I drive a Tesla",
        "I commute by train on Fridays",
        what="my car",
        gone="Tesla",
        kept="train",
    ),
    forget(
        "I have a therapist called Laura",
        "I go to yoga on Tuesdays",
        what="everything about my therapist",
        gone="Laura",
        kept="yoga",
    ),
    forget(
        "My sister lives in Bilbao",
        "My sister is called Ana",
        "I live in Madrid",
        what="my sister",
        gone=("Bilbao", "Ana"),
        kept="Madrid",
    ),
    forget(
        "I hate running", "I love swimming", what="I hate running", gone="running", kept="swimming"
    ),
    forget(
        "My wife's name is Clara", "My son is called Leo", what="my wife", gone="Clara", kept="Leo"
    ),
    forget(
        "I live in Berlin",
        "I moved to Munich",
        "I'm living in Hamburg",
        "I like beer",
        what="Hamburg",
        gone=("Berlin", "Munich", "Hamburg"),
        kept="beer",
    ),
    forget(
        "My wifi password is bluefox42",
        "My gym is Basic-Fit",
        what="forget the wifi password",
        gone="bluefox42",
        kept="Basic-Fit",
    ),
    forget(
        "I'm afraid of flying",
        "I love travelling by train",
        what="my fear of flying",
        gone="flying",
        kept="train",
    ),
    forget(
        "The user's mother is called Rosa",
        "The user's father is called Luis",
        what="my mum's name",
        gone="Rosa",
        kept="Luis",
    ),
    forget(
        "I'm learning Japanese",
        "I speak French",
        what="the Japanese thing",
        gone="Japanese",
        kept="French",
    ),
]
