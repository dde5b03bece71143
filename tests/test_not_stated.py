"""「ガイドには…の記載はありません」: a question whose topic the guide covers but whose detail
(an amount, a date, a contact) it does not state is declined with the nearest sections; the
amounts, names and dates the guide does state are still answered (from the guide's own text)."""
from __future__ import annotations

import pytest

from assistant.asked_detail import asked_detail, asked_details


@pytest.fixture(scope="module")
def assistant(session_assistant):
    return session_assistant


@pytest.mark.parametrize("question, first", [
    ("トライアル発注制度の認定に申請するときの手数料はいくら？", "ガイドには具体的な金額についての記載はありません。"),
    ("Urban Innovation JAPANの参加費はいくら？", "ガイドには具体的な金額についての記載はありません。"),
    ("インパクトスタートアップ協会の連絡先の電話番号は？", "ガイドには電話番号についての記載はありません。"),
    ("How much does it cost to join the Impact Consortium?", "The guide does not state the amount."),
    ("What is the deadline for applying to Urban Innovation JAPAN?", "The guide does not state the date or deadline."),
    ("前払いをお願いする場合、契約額の何割くらいまで前払いしてもらえる？", "ガイドには具体的な割合・配分についての記載はありません。"),
    ("札幌市が民間から公募したスタートアップ推進担当係長の年収は？", "ガイドには具体的な金額についての記載はありません。"),
    # a proper noun the guide never mentions: its other words (自治体, 連携) would find passages
    ("企業版ふるさと納税を使って自治体と連携したい。手続きの流れは？", "ガイドには「ふるさと納税」についての記載はありません。"),
    # an acronym the guide never uses, in either language
    ("日本版SBIR制度の補助金にスタートアップが応募するには？", "ガイドには「SBIR」についての記載はありません。"),
    ("What does GDPR require when a startup handles a city's resident data?", "The guide does not mention “GDPR”."),
    # a name in Latin letters that neither the guide nor the project's English for it holds
    ("For a small town hall help desk, which is the better fit: kintone or Salesforce?",
     "The guide does not mention “Salesforce”."),
    ("How do I create a pivot table in Excel to summarize our department's budget lines?",
     "The guide does not mention “Excel”."),
    ("How do I configure horizontal pod autoscaling in Kubernetes for our SaaS backend?",
     "The guide does not mention “Kubernetes”."),
    ("DMPのカタログサイトに載せるのに登録料はかかる？", "ガイドには具体的な金額についての記載はありません。"),
    # a scheme named by a loanword the guide never uses
    ("インボイス制度が始まってから、自治体への請求で気をつけることは？", "ガイドには「インボイス制度」についての記載はありません。"),
    # a topic next to the guide's that it does not cover
    ("スタートアップの社員を兼業で受け入れるときの手続きは？", "ガイドには「兼業」についての記載はありません。"),
    ("What are the steps for a city to issue municipal bonds (chihōsai) to fund a new facility?",
     "The guide does not mention “municipal bonds”."),
    ("住民の個人情報をスタートアップに提供するときの法的なルールは？", "ガイドには「個人情報」についての記載はありません。"),
    # an address asked as アドレス, a count of times (何回), company names (会社名), a wait (…までどのくらい)
    ("福岡市の公民連携窓口にメールで問い合わせたい。アドレスを教えて", "ガイドには連絡先・URLについての記載はありません。"),
    ("「うちも！」ボタンはこれまでに何回押された？", "ガイドには具体的な数についての記載はありません。"),
    ("マッチングピッチで登壇した20社の会社名は？", "ガイドにはその名称についての記載はありません。"),
    ("規制のサンドボックス制度で、申請から認定までどのくらいかかる？", "ガイドには具体的な期間についての記載はありません。"),
    # a date of applying, not the date some other event happened (「2022年10月の発足時」)
    ("By what date must a startup apply to join the Impact Consortium?", "The guide does not state the date or deadline."),
    # a count the guide states for something else (10自治体 interviewed for the 100選), not for the
    # place the question names (Tokyo → 東京都)
    ("How many municipalities have signed up to Tokyo's First Customer Alliance so far?",
     "The guide does not state the number."),
    # a month: 福岡市 decides its certifications twice a year (年2回), in months it does not name
    ("In which months does Fukuoka decide its trial product certifications?", "The guide does not state the month."),
    # a number asked as 「番号を教えて」, and points (何点) added for using startups
    ("福岡市のmirai@って電話でも相談できる？番号を教えて。", "ガイドには連絡先・URLについての記載はありません。"),
    ("デジ田交付金でスタートアップを使うと加点されるそうですが、何点加算されますか？", "ガイドには具体的な数についての記載はありません。"),
])
def test_an_unstated_detail_is_declined_with_the_nearest_sections(assistant, question, first):
    a = assistant.ask(question)
    assert a.abstained and a.abstain_reason == "not_stated"
    assert a.route == "qa"  # in scope: only the detail is missing
    assert a.answer.split("\n", 1)[0] == first
    assert a.citations == [] and a.nearest_sections


@pytest.mark.parametrize("question, stated", [
    ("成果連動型の事例で、最大委託料はいくらだった？", "6,100万円"),  # the PFS case's figures
    ("インパクトコンソーシアムは何年何月に立ち上がった？", "2023年11月"),
    ("禁煙の事例で、医療費削減額の推計は一人あたりいくら？", "73.4万円"),
    ("つくば市のトライアル発注の認定は何年間有効？", "翌々年度末まで"),  # a validity period
    ("国内の成果連動型（PFS）の事例は何件ある？", "273件"),  # a count, p.107
    ("4号随契をスタートアップからの調達に活用している自治体は何%くらい？", "4.7%"),  # a share, p.94
    ("茨城県のベンチャー企業向けトライアル発注認定は、認定されると何年有効？", "3年が経過"),
    # two details asked, one stated (273件) and one not (how many years): the stated one answers
    ("国内のPFSの事例は何件あって、何年間で積み上がったもの？", "273件"),
    # the filler agrees with what was asked: the counter, the price's name, a company
    ("インパクト・コンソーシアムの会員は何団体くらい？", "339団体"),
    ("ひろしまサンドボックスで、1件あたりの活動支援金はいくら？", "1件最大100万円"),
    ("福山市の下水道点検を担当した会社はどこ？", "Liberaware"),
    # an English question naming a ministry by its English acronym (the guide writes 経済産業省)
    ("What is the METI programme that selected impact startups in 2023?", "J-Startup Impact"),
    # a company named only in the caption of the figure the sentence cites (図表48「Luup が…」)
    ("規制改革の事例で、電動キックボードに取り組んだ企業はどこ？", "Luup"),
    ("How many municipalities take part in the Startup City Promotion Council?", "11自治体"),
    # the date of the event asked about: 開催日時 2024年11月28日
    ("マッチングピッチ2024はいつ開催されましたか？", "2024年11月28日"),
    # "how much … drop" asks a change, stated as a fraction (p.117: 10分の1以下に減少)
    ("In the Shin'onsen deer pilot at an elementary school, how much did the deer droppings decrease?", "10分の1以下"),
    ("On what date was the Matching Pitch 2024 held?", "2024年11月28日"),
    # no deadline: 茨城県 takes applications for its trial ordering certification at any time (随時受付)
    # (asked without naming the programme, of which the guide describes several, it is now declined)
    ("What is the application deadline for Ibaraki's trial ordering certification?", "随時受付"),
    # a place named in English: stated in that place's own passages
    ("How long is Tsukuba's trial-order certification valid?", "翌々年度末まで"),
    # …also when the asker says where they are from: Osaka is not the place asked about
    ("We're a startup based in Osaka. If Tsukuba City certifies our product under its trial order "
     "certification program, how long does the certification stay valid?", "翌々年度末まで"),
    # a place named only in the case's heading (事例紹介：…×兵庫県新温泉町教育委員会), with an apostrophe
    ("In the Shin'onsen deer-deterrent trial at a primary school, how many speakers were installed?", "スピーカー12台"),
    # names the guide writes in kana (ドクターメイト, ママスクエア, チャリチャリ): in the English of its nouns
    ("What did Doctormate provide in the Kitakyushu night on-call pilot?", "ドクターメイト"),
    ("In how many areas does Charichari run its bike-share service?", "全国9エリア"),
    ("For Toyonaka's smoking-cessation project, how many people took part against the target?", "792人"),
    # a desk named in Latin letters in brackets: 「mirai@（ミライアット）」
    ("福岡市の公民連携ワンストップ窓口って何という名前で、いつから置かれていますか？", "mirai@"),
    # two parts, the second a request (「…も教えて。」): the date of the notice is stated
    ("国がスタートアップ活用で交付金を使えるよう自治体に出した事務連絡って、いつ付けのもの？あと、対象の交付金の名前も教えて。",
     "令和 7 年 1 月 29 日"),
    # a month in the yearly budget cycle (前年度の5～8月頃), asked about next year's budget (来年度の…)
    ("うちのサービスを来年度の市の予算に入れてもらうには、何月ごろまでに話をしに行けばいい？", "5～8月"),
    ("官民連携のポイントは何点あるとされている？", "7点"),  # 何点 counted in 点
    # 何団体 is answered by the municipalities counted (11自治体, p.85)
    ("創業支援に熱心な市の集まり、スタートアップ都市推進協議会には何団体が加盟している？", "11自治体"),
    # 「SU1社」 is one startup (SU: officials' shorthand), not a name the guide never mentions
    ("SU1社と連携協定を結ぶ予定です。この協定に法的な拘束力はありますか？", "紳士協定"),
])
def test_a_stated_amount_or_date_is_answered(assistant, question, stated):
    a = assistant.ask(question)
    assert not a.abstained, a.answer
    assert stated in a.answer + "".join(c.quote for c in a.citations)


def test_a_ppp_policy_is_the_guides_own_partnership_not_the_excluded_ppp_pfi(assistant):
    """"a PPP policy / unit / desk" names 官民連携 (指針, 専門部署, 窓口); "Does the guide cover
    PPP?" still gets the guide's own sentence that it leaves PPP/PFI out."""
    a = assistant.ask("Which city first set up a PPP policy, a PPP unit and a proposal desk?")
    assert not a.abstained and "does not cover" not in a.answer, a.answer
    assert any("窓口" in c.quote for c in a.citations), a.answer
    # …also with a word between the acronym and its noun: 第4章 (4)'s list of 窓口, p.85
    c = assistant.ask("Where in the guide can I find the list of municipalities that have a PPP consultation desk?")
    assert not c.abstained and "does not cover" not in c.answer and 85 in c.citations[0].pages, c.answer
    b = assistant.ask("Does the guide cover PPP projects?")
    assert b.answer.startswith("The guide states (p.10) that it does not cover PPP"), b.answer


def test_an_excluded_topic_in_one_part_leaves_the_other_parts_answered(assistant):
    """「3つの出口は？PPPは扱ってる？」: the exits part is answered from p.9, the PPP part by the
    guide's own sentence that leaves PPP/PFI out; the whole question is not declined."""
    for q in ("What are the guide's 3 exits? And does it leave out any PPP methods?", "3つの出口って何？あと、PPPは扱ってる？",
              # one sentence, the PFI question joined by ", and does…": still not a question about PFI alone
              "What are the three partnership 'exits' the guide keeps mentioning, and does it cover PFI-type schemes as well?"):
        a = assistant.ask(q)
        assert not a.abstained, a.answer
        quotes = [c.quote for c in a.citations]
        assert any("3つの出口" in q for q in quotes), a.answer
        assert any("本ガイドにおいては取り上げない" in q for q in quotes), a.answer
    b = assistant.ask("Does the guide leave out PPP?")  # asked alone: the guide's sentence, not an answer
    assert b.answer.startswith("The guide states (p.10) that it does not cover PPP") and not b.abstained, b.answer


def test_a_part_that_asks_no_detail_is_answered_whatever_the_other_parts_detail(assistant):
    q = "通年契約だと支払いまでどのくらいかかる？前払いは頼める？"
    assert [d.name for d in asked_details(q)] == ["duration"]
    a = assistant.ask(q)
    assert not a.abstained, a.answer
    assert "前払い" in a.answer
    # the same wait asked alone, and not stated by the passages found, is declined
    c = assistant.ask("規制のサンドボックス制度で、申請から認定までどのくらいかかる？")
    assert c.abstained and c.abstain_reason == "not_stated"


@pytest.mark.parametrize("question, kind", [
    ("参加費はかかりますか？", "amount"),
    ("How much is the fee?", "amount"),
    ("Is the total contract value or the per-student price given?", "amount"),
    ("協力した銀行の名前は？", "name"),
    ("応募の締め切りはいつ？", "date"),
    ("When is the next pitch event held?", "date"),
    ("問い合わせ先のURLを教えて", "contact"),
    # a phone number is its own kind: a URL on the page does not state it
    ("福岡市の窓口に電話で相談したい。番号はガイドに載ってる？", "phone"),
    ("What is the phone number of the desk?", "phone"),
    ("価格点と技術点の配分は何対何？", "ratio"),
    ("連携協定は普通は何年間で結ぶ？", "duration"),
    ("How long does the desk take to respond?", "duration"),
    ("認定されている会社は何社？", "count"),
    ("協議会に入っている自治体は具体的にどこ？", "name"),
    ("資金を出した銀行はどこ？", "name"),
    ("どこの自治体ともつながりがないときのコツは？", None),  # not asking for a name
    ("予算化はいつ頃までに相談すべき？", None),  # timing in the guide's own terms, not a date
    ("4号随契とは？", None),
    ("掲載料はいくらですか", "amount"),
    ("ピッチイベントはいつどこで開催される？", "date"),
    ("成果指標が何％改善したら満額？", "ratio"),
    ("Are there any fees for the desk?", "amount"),
    # a budget named by its kind, not its size asked for (the question asks when)
    ("Besides the main annual budget, when do municipalities put together supplementary budgets?", None),
    ("What was the total annual budget of the project?", "amount"),
    ("What's the maximum percentage of the contract we may pay up front?", "ratio"),
    # price named as a criterion, not asked for; costs as a topic, not a sum
    ("What's the difference between bidding on price and quality and a proposal competition?", None),
    ("What are the costs and benefits of a pilot for a city?", None),
    ("Which tender methods judge a startup on what it proposes rather than on price?", None),
    ("情報公開の請求には何日以内に答える決まり？", "duration"),
    ("DMPを使うと調達は何日くらい早くなる？", "duration"),
    ("What is the exact date for handing in budget requests?", "date"),
    ("What did the smart speaker system cost the town?", "amount"),
    ("この事業の委託単価は？", "amount"),
    ("審査会は何人で構成されていますか？", "count"),
    ("How many docking ports does the operator run?", "count"),
    ("Who was the official in charge? I would like their name.", "name"),
    ("What is the nickname of the programme?", None),  # "nickname of" is not "name of"…
    ("By when should we start talking to a city about next year's budget?", None),  # …nor a timing a date
    ("認定の有効期間って何年？", "duration"),
    ("アライアンスにはいくつの自治体が参加していますか", "count"),
    ("What is the total annual budget of the programme?", "amount"),
    ("When does the budget cycle start?", None),
    ("資金を出した金融機関ってどこ？", "name"),
    ("Is there a listing fee for the catalogue?", "amount"),
    ("次のピッチはいつどこでやるの？", "date"),
    ("What is the maximum number of years a contract can run?", "duration"),
    ("参加した学校数は？", "count"),
    # 何 + counter + か is "some": 「何社かと意見交換」 asks no number
    ("スタートアップ何社かと意見交換を始めます。どんな点を確認しておけばいいですか？", None),
    ("何件かの事例を参考にしたいのですが、どこを読めばいい？", None),
    ("何社か教えてください", "count"),  # …but 「何社か教えて」 asks how many
    # 何か月 spelt with か, and 「いつ・どこで」 with a 中黒 between the two asks
    ("NPO法人の認証まで何か月くらいかかる？", "duration"),
    ("何ヶ月かかる？", "duration"),
    ("マッチングピッチ、2025年度はいつ・どこでやるの？", "date"),
    ("When and where is next year's Matching Pitch being held?", "date"),
    # a change asked by "how much" is no sum (「10分の1以下に減少」); "how much time" is a duration
    ("How much did the number of visitors drop after the pilot?", None),
    ("How much time does a proposal-based tender take?", "duration"),
    ("What subsidy rate does the grant offer?", "ratio"),
    ("補助率は？", "ratio"),
    # a product's own name: 「具体的にどの製品？」, not 「どの製品が向いている？」
    ("配送された医薬品は具体的にどの製品？", "name"),
    ("うちの課にはどの製品が向いている？", None),
])
def test_what_detail_a_question_asks_for(question, kind):
    d = asked_detail(question)
    assert (d.name if d else None) == kind


def test_a_detail_of_another_year_or_of_a_past_occasion_does_not_answer(assistant):
    from assistant.asked_detail import years

    assert years("fiscal 2025") == {2025} == years("令和7年度") == years("FY2025") == years("FY25")
    assert years("2024 年度は") == {2024}
    assert years("最大2000万円、2030件") == set()  # sums and counts, not years
    # the guide gives the long list's size for 2024年度 (70 社程度), not for another year
    later = assistant.ask("スタートアップのロングリストは2026年度には何社掲載される？")
    assert later.abstained and later.abstain_reason == "not_stated", later.answer
    same = assistant.ask("スタートアップのロングリストには2024年度に何社掲載された？")
    assert not same.abstained and "70 社程度" in same.answer
    # the guide reports the 2024 matching pitch; the next one's date it cannot state
    nxt = assistant.ask("内閣府のマッチングピッチ、次回の開催日はいつ？")
    assert nxt.abstained and nxt.abstain_reason == "not_stated", nxt.answer
    held = assistant.ask("内閣府のマッチングピッチ2024の開催日はいつでしたか？")
    assert not held.abstained and "2024年11月28日" in held.answer + "".join(c.quote for c in held.citations)
    # the same in English: "when is … held" asks for a date (a 2025 one the guide does not give)
    later_en = assistant.ask("When is the Cabinet Office's startup matching pitch being held in 2025?")
    assert later_en.abstained and later_en.answer.startswith("The guide does not state the date"), later_en.answer
    held_en = assistant.ask("When was the Cabinet Office's Matching Pitch 2024 held?")
    assert not held_en.abstained and "2024年11月28日" in held_en.answer + "".join(c.quote for c in held_en.citations)


def test_fillers_the_guide_writes_unusually_are_stated():
    """A company in Latin letters, a count without its counter, a period written as years passing."""
    from assistant.asked_detail import KINDS, states

    name = next(k for k in KINDS if k.name == "name")
    assert states(name, "狭小空間点検用ドローンを用いて下水道点検の高度化（㈱Liberaware）")
    assert states(name, "株式会社 CureApp から提供された禁煙プログラム")
    assert states(name, "公民連携ワンストップ窓口「mirai@（ミライアット）」を設置し")  # a desk in brackets
    assert not states(name, "成果連動型委託契約（Pay For Success、以下「PFS」といいます）")  # an acronym
    # a count the guide gives without its counter: 「窓口については、現在94¹⁸で設置・運用されています」
    count = next(k for k in KINDS if k.name == "count")
    assert states(count, "官民連携に関する窓口については、現在94¹⁸で設置・運用されています。")
    assert not states(count, "現在2025年度の予算編成が進んでいます") and not states(count, "現在3.5%")
    assert states(count, "全国に 1,788 ある自治体から、…")  # the number, ある, the counter
    assert states(next(k for k in KINDS if k.name == "duration"), "「Life is Tech ! Lesson」を、5カ年にわたり導入")
    # a validity period written as years passing is a stated duration
    duration = next(k for k in KINDS if k.name == "duration")
    assert states(duration, "（認定期間は、認定日から3年が経過する日の属する年度末まで）")
    # a scheme spelt out in English, or an acronym, names no company
    assert not states(name, "成果連動型委託契約（Pay For Success、以下「PFS」といいます）")
    assert not states(name, "PFS の事例を紹介します")


def test_a_count_is_stated_with_the_counter_asked_for():
    from assistant.asked_detail import KINDS, _counted, states

    assert _counted("何人参加した？").search("現地参加 218名") and not _counted("何台ある？").search("全国9エリア")
    assert _counted("どんな制度？") is None
    # an English question's things counted name the counter too
    assert _counted("How many companies are certified?").search("認定企業は12社") and \
        not _counted("How many companies are certified?").search("全国で23自治体が参画")
    assert _counted("How many local authorities run a desk?").search("11自治体が参加")
    assert _counted("何団体が参加している？").search("11自治体³³が参加") and not _counted("何団体？").search("12社")
    assert _counted("How many local authorities are there?").search("全国に 1,788 ある自治体")
    assert _counted("How many of them are there?") is None and _counted("How many years?") is None
    # a number per item is a rate, not a count: 「1件最大100万円」 says nothing of how many
    count = next(k for k in KINDS if k.name == "count")
    assert not states(count, "活動支援金として1件最大100万円を活用することで") and states(count, "これまで273件の事例")
    assert not _counted("How many proposals did it get?").search("1件あたり50万円")
    assert _counted("How many proposals did it get?").search("30件の実証実験")


def test_a_count_or_date_of_a_year_the_guide_does_not_report_is_declined(assistant):
    """The Hiroshima sandbox's grant per project (1件最大100万円) is no count of proposals, and the
    2024 matching pitch's date is no date for 2025; both fed answers before."""
    for q in ("Hiroshima's got that startup joint-procurement program. How many proposals did it get in FY2025?",
              "内閣府のマッチングピッチ、2025年度はいつ・どこでやるの？"):
        a = assistant.ask(q)
        assert a.abstained and a.abstain_reason == "not_stated", a.answer
    # a wait asked as 何か月 (spelt with か) the guide gives for no NPO certification
    npo = assistant.ask("NPO法人を新しく立ち上げるとき、所轄庁の認証まで何か月くらいかかる？")
    assert npo.abstained and npo.citations == [], npo.answer


def test_a_sum_asked_for_by_a_narrow_name_is_stated_under_that_name():
    from assistant.asked_detail import _priced

    assert _priced("委託単価はいくら？").search("1人あたりの単価は") and not _priced("委託単価は？").search("最大委託料6,100万円")
    assert _priced("参加費はいくら？").search("参加は無料です")  # a fee may be stated as free
    assert _priced("費用はいくら？") is None  # a broad word: any sum near the best may answer


def test_what_was_paid_is_not_a_grant_one_could_draw_on():
    """"What did … cost each town?" is not answered by 「活動支援金として1件最大100万円」 (money given),
    but by a sum the sentence does not name as a grant, or by 無償 (a cost of nothing)."""
    from assistant.asked_detail import KINDS, _only_grants

    amount = next(k for k in KINDS if k.name == "amount")
    assert _only_grants(amount, "はじめは予算措置ができていなくても、活動支援金として1件最大100万円を活用することで")
    assert not _only_grants(amount, "支払金額は、最大委託料6,100万円に対して4,949万円（81%）となりました。")
    assert not _only_grants(amount, "実証期間中は無償でサービスを提供しました。")
    # a grant named in another clause does not name the sum
    assert not _only_grants(amount, "補助金は無く、初期費用30万円は市が負担しました。")


def test_a_period_in_the_unit_asked_and_the_kind_of_name_asked():
    from assistant.asked_detail import _in_units, _name_kind

    assert _in_units("何か月続いた？").search("2～3か月を要します") and not _in_units("何か月？").search("4年間で")
    assert _in_units("How long did it run?") is None  # any unit answers "how long"
    assert _name_kind("Which bank funded it?").search("地方銀行が出資") and _name_kind("どこの会社？") is None
    company = _name_kind("登壇した会社名を教えて")  # a company, not an association
    assert company.search("株式会社 CureApp") and company.search("Luup が") and not company.search("インパクトスタートアップ協会")


def test_every_detail_a_question_asks_for():
    assert [d.name for d in asked_details("How many schools did it cover, and over how many years?")] == \
        ["duration", "count"]
    assert asked_details("4号随契とは？") == []


@pytest.mark.parametrize("question", [
    "企画競争の評価委員会は何人で構成するのが一般的？",
    "Who was the official at Tsukuba City in charge of the trial ordering certification? Their name, please.",
    "What is the exact date by which a department must submit its budget request?",
    "What did the joint procurement in Hiroshima cost each town?",
    # a duration stated for another subject (公示から事業者決定まで2～3か月) scores near the best but
    # shares none of the question's words, even read with the sentence before it
    "民間提案窓口に出した提案について情報公開請求があったら、何日以内に開示を判断する？",
    # a filler that does not agree with what was asked: the bike-share's areas (全国9エリア) are not
    # its bikes, the pilot's 無償提供 is no monthly fee, an association (and 株式会社 CureApp) no bank
    "チャリチャリは福岡市で自転車を何台運用しているの？",
    "北九州市の夜間オンコールの実証が終わったら、サービスの月額はいくらになる？",
    "豊中市の卒煙事業に資金を出した銀行はどこ？",
    "Which bank or investor funded the Toyonaka smoking-cessation PFS project?",
    # 「いくつの自治体」 asks a count; the alliance's members the guide does not count
    "東京都のファーストカスタマー・アライアンスには、いくつの自治体が加盟していますか",
    # the year asked is not the one named in the sentence before the count (2008年 … 現在94)
    "横浜市は2024年だけで何件の官民連携事例を生んだ？",
    # "how many startups" is a number of 社, which the Ibaraki passages do not give
    "How many startups has Ibaraki Prefecture certified under its trial ordering scheme for ventures?",
    # a levy (負担金), a budget's size, what a city paid, a cap on a contract's value: sums
    "Urban Innovation JAPANに加わる自治体の負担金は？",
    "STARTUP HOKKAIDOの予算はどのくらいなの？",
    "What did Saitama City pay for the Life is Tech lessons?",
    "Is there a cap on the contract value for a No.4 negotiated contract?",
    # a financier asked as 資金提供者（金融機関）, its bracket before は
    "豊中市の卒煙プロジェクトの資金提供者（金融機関）はどこ？",
    # a number of staff: 500件 of cases and 現在94 desks are no count of people
    "横浜市の官民連携の専門部署は何人のチーム？",
    # an advance payment's share of the contract: the guide says it can be arranged, not how much
    "If we make an exceptional advance payment to a startup, what's the maximum percentage of the contract we can pay up front?",
    # the programme's name is printed (株式会社 CureApp から提供された禁煙プログラム), the medicine's is not
    "豊中市の卒煙プロジェクトで自宅に届けられた医薬品は、具体的にどの製品？",
    # the 2024 edition's date and venue are printed, not those of a later one
    "When and where will the 2025 Matching Pitch be held?",
    # the grant is named (第2世代交付金), its subsidy rate is not
    "What subsidy rate does the second-generation regional revitalization grant pay for startup projects?",
    # whether there is a fee at all ("does it cost anything"): the catalogue's listing is described, its price is not
    "Would it cost anything to get our SaaS listed on the Digital Agency's DMP catalogue site?",
    "デジタル庁のDMPカタログサイトにサービスを載せるのにお金はかかりますか？",
    "Does a company have to pay Social X anything to post a theme on its reverse-proposal platform?",
    "福岡市のワンストップ窓口に電話で相談したい。番号はガイドに載ってる？",
])
def test_newly_recognised_details_the_guide_does_not_state_are_declined(assistant, question):
    a = assistant.ask(question)
    assert a.abstained and a.abstain_reason == "not_stated", a.answer


@pytest.mark.parametrize("question", [
    "What does the guide say about proof-of-concept trials?",  # the misfire named in issue 13
    "Any advice on running PoCs with a city?",
    "How should a startup run a pilot with a municipality?",
    "PoCを自治体とやるときの注意点は？",
])
def test_a_paraphrase_of_a_covered_topic_is_not_declined(assistant, question):
    """PoC / pilot / proof-of-concept are the guide's 実証実験 (出口③ and the 実証 passages):
    declining them as "not in the guide" would be as wrong as answering an unstated fee."""
    a = assistant.ask(question)
    assert not a.abstained, a.answer
    assert any("実証" in c.quote or any("実証" in p for p in c.section_path) for c in a.citations), a.answer


def test_a_name_the_guide_never_mentions_is_found_and_places_are_not(session_assistant):
    found = session_assistant.unmentioned.find
    assert found("企業版ふるさと納税を使って財源を集めるには？") == ["ふるさと納税"]
    # place names and the guide's own names are not "never mentioned"
    assert found("八王子市でもトライアル発注を作れる？") == []
    assert found("スタートアップ都市推進協議会の事例は？") == []
    # a short acronym with a count is a shorthand and a number (SU1社: one startup); a longer one is a name
    assert found("SU1社と協定を結ぶには？") == [] and found("SBIR2件に応募した場合は？") == ["SBIR2"]
    # a scheme named by a loanword: only when the guide never uses the loanword
    assert found("Under the invoice system (インボイス制度), what goes on a bill?") == ["インボイス制度"]
    assert found("トライアル認定制度を使っている自治体はどこ？") == []
    # a subsidy by its name: the guide names none (it names two 交付金)
    assert found("How do we apply for the IT導入補助金 this year?") == ["IT導入補助金"]
    assert found("国の補助金と組み合わせて導入できる？") == [] and found("補助金・助成金は使える？") == []
    # a topic next to the guide's that it does not cover, in either language; the guide's own 税金 is not one
    assert found("Does a founder from abroad need a visa to pitch to a city?") == ["visa"]
    assert found("職員が副業でスタートアップを手伝ってもいい？") == ["副業"]
    assert found("How is the grant treated for corporate tax?") == ["corporate tax"]
    assert found("市民の税金を使う事業の説明責任は？") == [] and found("Whose taxpayers' money funds a pilot?") == []
    assert found("What are the rules on overtime pay for our startup's employees?") == ["overtime"]
    assert found("What's the cheapest flight from Tokyo to Sapporo for a pitch event?") == ["flight"]
    assert found("What's the current interest rate on Japan Finance Corporation loans?") == ["interest rate"]
    assert found("Can a startup get a loan from the city to fund a pilot?") == ["loan"]
    assert found("スタートアップが使える融資制度はある？") == ["融資"]
    assert found("How should our city calculate the cap on furusato nozei return gifts?") == ["furusato"]
    assert found("返礼品の上限はどう決める？") == ["返礼品"]
    assert found("Can you recommend a few good hot-spring towns to visit in Kyushu?") == ["hot-spring towns"]
    assert found("新温泉町の事例を教えて") == []  # the guide's own case town
    assert found("Which places should we visit first when pitching to a city?") == []
    # trademarks: the guide's one 商標 is a footnote's 登録商標 mark, not the topic
    assert found("How do I register a trademark for our product name in Japan?") == ["trademark"]
    assert found("商標登録ってどうやるの？") == ["商標登録"]
    # a law the guide never cites; the ones it cites, and ways of doing things, are not
    assert found("自治体からの発注は下請法の対象？") == ["下請法"]
    assert found("地方自治法の随意契約の規定は？") == [] and found("申請方法と調達手法は？") == []
    assert found("原課との対立の対処法は？") == []
    # a year after the latest the guide (revised May 2026) names; the years it names are not
    assert found("2027年度の地方自治法の改正で随意契約はどう変わる？") == ["2027年"]
    assert found("2024年度のロングリストは何社？") == []
    # a foreign country or union: the guide is about Japan's municipalities (it names 米国 once)
    assert found("How do UK councils buy SaaS from small suppliers?") == ["UK"]
    assert found("韓国の自治体はスタートアップとどう連携している？") == ["韓国"]
    assert found("中国地方の自治体の事例は？") == [] and found("米国のシリコンバレーで生まれた言葉？") == []
    # the initials of the guide's own Latin names (Urban Innovation JAPAN, Local Innovation Challenge
    # HOKKAIDO) are known; a fiscal year is a year, not an acronym
    assert found("UIJにはこれまでに何自治体が参加している？") == [] and found("LIC北海道の採択件数は？") == []
    assert found("What did the FY2025 survey find?") == []
    # acronyms: the guide's own (PFS, KPI, DMP) and the reviewed data's (RFP: a glossary alias) are known
    assert found("日本版SBIRとPFSとKPIとDMPの関係は？") == ["SBIR"]
    assert found("How do I write an RFP for a startup?") == []


def test_a_year_after_the_guide_is_declined_in_either_language(session_assistant):
    en = session_assistant.ask("What amendments to the Local Autonomy Act are planned for 2027?")
    assert en.abstained and en.answer.startswith("The guide does not mention “2027”.")
    ja = session_assistant.ask("2027年度の地方自治法の改正で随意契約はどう変わる？")
    assert ja.abstained and ja.answer.startswith("ガイドには「2027年」についての記載はありません。")


def test_a_detail_stated_outside_the_retrieved_passages_is_found_guide_wide(assistant):
    """Before "the guide does not state it", every sentence of the guide that holds the detail asked
    is read: the retrieved passages can miss the one with the figure (which passages they are can
    differ between CPUs, whose last bits of the embeddings differ). A figure about another place
    does not count."""
    from assistant.asked_detail import asked_details

    q = "4号随契をスタートアップからの調達に活用している自治体は何%くらい？"
    found = assistant._stated_elsewhere(asked_details(q)[0], q, assistant._query_tokens(q))
    assert found is not None and "4.7%" in found.text, found
    assert found.text in found.chunk.text and found.chunk.pages == [101]
    # つくば市's 「有効期間は認定した翌々年度末まで」 shares the words but is about another city
    q = "福岡市のトライアル優良商品に認定されたら、認定期間って何年なんですか？"
    assert assistant._stated_elsewhere(asked_details(q)[0], q, assistant._query_tokens(q)) is None
    # without a place in the question, that sentence is the one taken
    q = "トライアル優良商品に認定されたら、認定期間って何年なんですか？"
    found = assistant._stated_elsewhere(asked_details(q)[0], q, assistant._query_tokens(q))
    assert found is not None and "つくば市" in found.text and "翌々年度末まで" in found.text, found


def test_a_latin_name_the_guide_never_mentions(session_assistant):
    found = session_assistant.unmentioned.find
    assert found("For a small town hall help desk, which is the better fit: kintone or Salesforce?") == ["Salesforce"]
    assert found("How does the UK's GovTech Catalyst program pick startups?") == ["GovTech", "UK"]  # catalyst: a word
    assert found("What is standard in a Series A term sheet?") == ["Series A"]  # the name, not its first word too
    # names the guide holds: in its text (Urban Innovation JAPAN), in the English of its nouns (ドクターメイト,
    # ママスクエア), or in its English headings (First Customer Alliance, 図表36)
    assert found("What did Doctormate provide in the Kitakyushu night on-call pilot?") == []
    assert found("Does Mama Square offer childcare next to the workspace?") == []
    assert found("How many towns joined Tokyo's First Customer Alliance?") == []
    assert found("How do I apply to Urban Innovation JAPAN?") == []
    # romanised Japanese may be a name the guide writes in kana; months and plurals are words
    assert found("Is Shibuya's program like Tsukuba's?") == []
    assert found("Any advice on running PoCs in December?") == []
