"""Demo dialogue between andrewbrown and bayko, written for the seed script."""

DIALOGUE: tuple[tuple[str, str], ...] = (
    (
        "andrewbrown",
        (
            "Hey Bayko! Got a minute? I want to pick your brain about DynamoDB before next "
            "week's stream."
        ),
    ),
    ("bayko", "Always. Coffee is brewing, so my brain is at about 60% capacity and climbing."),
    ("andrewbrown", "Perfect, that's more than enough for single-table design."),
    ("bayko", "Ha, famous last words. What are we modelling?"),
    (
        "andrewbrown",
        (
            "Direct messages for Cruddur. Users can have one-on-one conversations, and I want"
            " it all in one table."
        ),
    ),
    (
        "bayko",
        (
            "Classic. So what are the access patterns? That's where I always start, before I "
            "even think about keys."
        ),
    ),
    ("andrewbrown", "Pattern A: show all messages in a message group, newest first."),
    ("andrewbrown", "Pattern B: list all the message groups for a user, so the inbox sidebar."),
    (
        "andrewbrown",
        (
            "Pattern C: create a message in an existing group. Pattern D: create a brand new "
            "group with the first message."
        ),
    ),
    ("bayko", "Okay, that's a nice tight list. Are you planning to paginate the messages?"),
    (
        "andrewbrown",
        (
            "Yes, with a limit and sorting by created_at. Nobody needs to load ten thousand "
            "messages at once."
        ),
    ),
    (
        "bayko",
        ("Unless they're reading the full transcript of every Londo Mollari speech. Then maybe."),
    ),
    ("andrewbrown", "Ha! Londo does have a demo account on Cruddur, so that is a real risk."),
    (
        "bayko",
        (
            "Of course he does. I assume he's posting about the glory of the Centauri "
            "Republic daily."
        ),
    ),
    ("andrewbrown", "Mostly about breen and how the Narn owe him money."),
    ("bayko", "Sounds about right. 😄"),
    ("bayko", "So back to keys. What does your partition key look like for the messages?"),
    (
        "andrewbrown",
        (
            "pk is MSG#{message_group_uuid} and the sort key is the created_at timestamp as "
            "an ISO string."
        ),
    ),
    ("bayko", "Nice, ISO strings sort lexicographically, so you get chronological order for free."),
    ("andrewbrown", "Exactly. Then a query with ScanIndexForward set to false gives newest first."),
    ("bayko", "And for the inbox? You can't query that by message group."),
    (
        "andrewbrown",
        (
            "Right, so for each conversation I write two group items, one per user. pk is "
            "GRP#{my_user_uuid}."
        ),
    ),
    (
        "andrewbrown",
        ("The sort key is last_message_at, so the inbox is sorted by the most recent activity."),
    ),
    (
        "bayko",
        (
            "Ah, so you're denormalizing. Each user gets their own copy of the group record "
            "with the other person's display name and handle on it."
        ),
    ),
    ("andrewbrown", "Yep. Storage is cheap, and it means the inbox is one query with no joins."),
    (
        "bayko",
        (
            "That's the mindset shift people struggle with coming from Postgres. Duplicate "
            "data is fine if it serves an access pattern."
        ),
    ),
    ("andrewbrown", "I'm going to say almost exactly that on stream, so thanks for the rehearsal."),
    (
        "bayko",
        (
            "Happy to be your test audience. What about updating last_message_at though? The "
            "sort key is immutable."
        ),
    ),
    (
        "andrewbrown",
        (
            "That's the tricky bit. You can't update a sort key in place, you have to delete "
            "and re-put the item."
        ),
    ),
    ("bayko", "Which gets messy fast. Have you thought about a GSI instead?"),
    (
        "andrewbrown",
        (
            "I have. I'm leaning toward a GSI with message_group_uuid as the partition key "
            "and the sort key as last activity."
        ),
    ),
    (
        "bayko",
        (
            "That works. GSIs can be added after the table exists, and you can choose a "
            "totally different key."
        ),
    ),
    ("andrewbrown", "Unlike an LSI, which has to be defined when you create the table."),
    (
        "bayko",
        (
            "Right, and an LSI shares the partition key with the base table, plus there's the"
            " 10 GB limit per item collection."
        ),
    ),
    (
        "andrewbrown",
        (
            "Good point, I always forget the 10 GB thing. LSIs do give you strongly "
            "consistent reads though."
        ),
    ),
    (
        "bayko",
        (
            "True, but for an inbox, eventual consistency on a GSI is totally fine. Nobody "
            "will notice a few hundred milliseconds."
        ),
    ),
    ("andrewbrown", "Agreed. GSI it is."),
    (
        "bayko",
        (
            "What projection are you using on it? ALL is easy but it doubles your storage for"
            " that data."
        ),
    ),
    (
        "andrewbrown",
        (
            "ALL for now. It's a bootcamp, I'd rather keep the mental model simple than save "
            "a few cents."
        ),
    ),
    ("bayko", "Fair. Teaching trade-offs is more important than optimizing a demo table."),
    (
        "andrewbrown",
        (
            "So here's where streams come in. When a new message lands, I want the group "
            "records to update automatically."
        ),
    ),
    ("bayko", "DynamoDB Streams plus a Lambda? I like it."),
    (
        "andrewbrown",
        (
            "Yep. The stream triggers a Lambda, it checks if the new item is a message, then "
            "it updates the group items via the GSI."
        ),
    ),
    (
        "bayko",
        (
            "Make sure you filter on the event name. You only care about INSERT, otherwise "
            "your Lambda will trigger on its own updates."
        ),
    ),
    (
        "andrewbrown",
        (
            "Oh, that's a good catch. An infinite loop would be a fun way to burn through the"
            " free tier."
        ),
    ),
    ("bayko", "Ask me how I know. 😅"),
    ("andrewbrown", "How do you know?"),
    (
        "bayko",
        (
            "Let's just say there was a weekend where my CloudWatch bill was more exciting "
            "than my social life."
        ),
    ),
    (
        "andrewbrown",
        (
            "Ha! Okay, I'll add an event filter on the trigger and check the pk prefix in the"
            " code as well. Belt and braces."
        ),
    ),
    (
        "bayko",
        (
            "Also the Lambda needs to be in the right VPC setup, or not in a VPC at all, if "
            "it's only talking to DynamoDB."
        ),
    ),
    (
        "andrewbrown",
        ("No VPC for this one. Keep it simple, and add a gateway endpoint later if we need it."),
    ),
    ("bayko", "Sounds good. Which week of the bootcamp is this?"),
    (
        "andrewbrown",
        (
            "Week 5. Week 4 was Postgres and RDS, week 3 was Cognito, so students will "
            "already have real users to message each other."
        ),
    ),
    (
        "bayko",
        ("How did the Cognito week go? I saw a lot of chatter in Discord about JWT verification."),
    ),
    (
        "andrewbrown",
        (
            "It went well overall, but yes, verifying the tokens on the backend tripped up a "
            "lot of people."
        ),
    ),
    (
        "bayko",
        (
            "The JWKS stuff is confusing the first time. Fetching the public keys, checking "
            "the kid, the expiry, the audience..."
        ),
    ),
    (
        "andrewbrown",
        (
            "And then realizing the access token and the ID token have different claims. That"
            " got a few people."
        ),
    ),
    (
        "bayko",
        (
            "I spent an hour wondering why my email claim was missing before I realized I was"
            " decoding the access token."
        ),
    ),
    (
        "andrewbrown",
        ("Ha, a rite of passage. I think I'll add a short troubleshooting video about that."),
    ),
    (
        "bayko",
        (
            "People would love that. The cognito_user_id mapping to your users table is worth"
            " a slide too."
        ),
    ),
    (
        "andrewbrown",
        (
            "Good idea. That's how we look up the user's uuid before we query DynamoDB, so it"
            " ties the weeks together nicely."
        ),
    ),
    ("andrewbrown", "Okay, I think I've got enough for the data modelling session. Thank you!"),
    ("bayko", "Anytime. Now the important question: have you watched any more Babylon 5?"),
    ("andrewbrown", "I'm on season 2! Sheridan just took over from Sinclair."),
    ("bayko", "Oh, you're in for such a ride. Season 2 is where it really takes off."),
    ("andrewbrown", "I have to admit I miss Sinclair a bit. He had a calm, mysterious vibe."),
    (
        "bayko",
        ("Sinclair is great, and no spoilers, but his story isn't over. Just keep that in mind."),
    ),
    ("andrewbrown", "Noted. Ivanova is my favourite so far. Her dry one-liners are perfect."),
    ("bayko", '"Ivanova is God." Best line in the whole show, fight me.'),
    ("andrewbrown", "Ha! I haven't got to that one yet, but I believe you."),
    ("bayko", "And G'Kar? What do you think of G'Kar?"),
    (
        "andrewbrown",
        (
            "Early on I thought he was just the villain, but he's getting more interesting "
            "every episode."
        ),
    ),
    (
        "bayko",
        (
            "Wait until you see where his arc goes. G'Kar and Londo are the heart of that "
            "show, honestly."
        ),
    ),
    ("andrewbrown", "They're so good together. You can tell the actors had a lot of fun."),
    (
        "bayko",
        (
            "Andreas Katsulas and Peter Jurasik, absolute legends. Their scenes are basically"
            " a masterclass."
        ),
    ),
    (
        "andrewbrown",
        ("The Vorlons still confuse me though. Kosh just says cryptic things and floats away."),
    ),
    ("bayko", 'That\'s kind of the point. "Understanding is a three-edged sword."'),
    ("andrewbrown", "See, that's exactly what I mean! What does that even mean?"),
    ("bayko", "Your side, their side, and the truth. You'll get it. Keep watching. 😉"),
    ("andrewbrown", "Okay, that's actually pretty deep."),
    (
        "bayko",
        (
            "It's a very quotable show. Half my Cruddur posts are going to be B5 quotes, just"
            " warning you."
        ),
    ),
    ("andrewbrown", "I expect nothing less. Maybe Londo and you can start a fan club thread."),
    ("bayko", "He would insist on being president of it."),
    ("andrewbrown", "And would demand the Narn pay membership fees."),
    ("bayko", "Ha! Exactly."),
    (
        "bayko",
        (
            "By the way, did you end up switching coffee beans? Last time you were "
            "complaining about your espresso."
        ),
    ),
    (
        "andrewbrown",
        ("I did! I found a local roaster that does a really nice medium roast. Much less bitter."),
    ),
    (
        "bayko",
        (
            "Nice. I've been doing pour-over lately. It's slower, but it's kind of a nice "
            "ritual before I start working."
        ),
    ),
    ("andrewbrown", "I like that. Ten quiet minutes before the AWS console starts yelling at me."),
    ("bayko", "Exactly. Any plans for the weekend?"),
    (
        "andrewbrown",
        (
            "Recording a few bootcamp videos on Saturday, and then hopefully a hike on Sunday"
            " if the weather holds up."
        ),
    ),
    (
        "bayko",
        ("Sounds like a good balance. Don't forget to turn off your NAT gateway before you go."),
    ),
    ("andrewbrown", "Ha, I've learned that lesson the expensive way, thank you very much."),
    ("andrewbrown", "What about you?"),
    (
        "bayko",
        (
            "Building a small side project with the same single-table patterns, just to make "
            "sure I actually understand it."
        ),
    ),
    ("bayko", "And then a Babylon 5 rewatch marathon. I'm up to the Shadow War again."),
    ("andrewbrown", "No spoilers! I don't even know what the Shadows are yet."),
    ("bayko", "My lips are sealed. Ask me again when you reach season 3."),
    (
        "andrewbrown",
        ("Deal. Thanks again for the help with the DynamoDB design, this was super useful."),
    ),
    (
        "bayko",
        (
            "Anytime. Send me the repo link when it's up, I'd be happy to review the access "
            "patterns."
        ),
    ),
    ("andrewbrown", "Will do. Talk soon, and enjoy the marathon!"),
    (
        "bayko",
        (
            "Thanks! Good luck with the recordings. And remember: no boom today. Boom "
            "tomorrow. There's always a boom tomorrow."
        ),
    ),
    ("andrewbrown", "Ha, I'll take your word for it. See you later! 👋"),
)
