"""Pages a portal publishes next to its annual reports that must NOT be archived as reports.

The titles are the look-alikes that trip keyword classifiers on real portals: other annual
reports (法治政府建设年度报告), budgets and final accounts (预算/决算), the government work
report (政府工作报告), the yearly work plan (政务公开工作要点), correction notices about a
report (更正说明) and ordinary news.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Notice:
    column: str  # column key in the site skeleton: nb (the report column), fzzf, czyjs, zfgzbg, zn, news
    title: str
    published: datetime
    paragraphs: tuple[str, ...]
    budget_pdf: bool = False  # carries the (non-report) budget PDF as attachment


def notices(place: str) -> list[Notice]:
    """The look-alike and news pages of a portal for ``place`` (e.g. 清源县)."""
    d = datetime.fromisoformat
    return [
        Notice("nb", f"关于《{place}2020年政府信息公开工作年度报告》的更正说明", d("2021-02-03 16:20"), (
            f"我单位于2021年1月发布的《{place}2020年政府信息公开工作年度报告》中，“收到和处理政府信息公开申请情况”表格部分数据有误，现予以更正。",
            "“本年新收政府信息公开申请数量”中“自然人”一栏由“12”更正为“21”，“总计”一栏相应更正。特此说明。",
            f"{place}人民政府办公室", "2021年2月3日")),
        Notice("nb", f"{place}2021年政务公开工作要点", d("2021-03-15 09:00"), (
            "为深入贯彻落实党中央、国务院关于全面推进政务公开的决策部署，现就2021年政务公开工作提出以下要点。",
            "一、围绕助力常态化疫情防控和经济社会发展，加强政策发布解读。二、围绕优化营商环境，推进政务服务公开。",
            "三、加强政府信息管理，按时编制发布2020年政府信息公开工作年度报告。四、夯实公开工作基础，强化监督保障。")),
        Notice("nb", f"{place}2020年法治政府建设年度报告", d("2021-03-20 10:30"), (
            f"2020年，{place}深入学习贯彻习近平法治思想，全面落实《法治政府建设实施纲要（2015—2020年）》，法治政府建设取得新成效。",
            "一、依法全面履行政府职能。二、完善依法行政制度体系。三、推进行政决策科学化、民主化、法治化。",
            "四、坚持严格规范公正文明执法。五、强化对行政权力的制约和监督。六、依法有效化解社会矛盾纠纷。")),
        Notice("fzzf", f"{place}2019年法治政府建设年度报告", d("2020-03-25 15:00"), (
            f"2019年，{place}坚持以习近平新时代中国特色社会主义思想为指导，扎实推进法治政府建设。",
            "全年审查规范性文件12件，办理行政复议案件35件，行政机关负责人出庭应诉率达到100%。")),
        Notice("czyjs", f"{place}财政局2021年部门预算", d("2021-02-10 11:00"), (
            f"根据《中华人民共和国预算法》和{place}财政局关于部门预算公开的统一要求，现将本部门2021年部门预算公开如下。",
            "详见附件。"), budget_pdf=True),
        Notice("czyjs", f"{place}2020年度部门决算公开说明", d("2021-08-30 17:00"), (
            "一、部门基本情况。二、收入支出决算总体情况说明。三、一般公共预算财政拨款支出决算情况说明。",
            "四、“三公”经费支出决算情况说明：2020年度“三公”经费支出决算12.36万元。")),
        Notice("zfgzbg", f"2021年{place}人民政府工作报告", d("2021-01-28 09:30"), (
            f"——2021年1月25日在{place}第十七届人民代表大会第五次会议上",
            "各位代表：现在，我代表县人民政府向大会报告工作，请予审议，并请县政协委员和其他列席人员提出意见。",
            "一、2020年工作回顾。二、“十四五”时期主要目标任务。三、2021年重点工作。")),
        Notice("zn", f"{place}人民政府信息公开指南", d("2020-06-01 09:00"), (
            "为了更好地提供政府信息公开服务，根据《中华人民共和国政府信息公开条例》，编制本指南。",
            "一、主动公开。二、依申请公开。三、收费标准：行政机关依申请提供政府信息，不收取费用。")),
    ] + [
        Notice("news", title, d(when), (f"{title}。{place}有关部门负责同志参加。", "会议强调，要切实把各项工作抓实抓细抓到位。"))
        for title, when in (
            (f"{place}召开2021年政务公开工作推进会", "2021-03-02 18:00"),
            (f"{place}部署春季农业生产工作", "2021-03-08 17:30"),
            (f"{place}开展安全生产大检查", "2021-01-12 16:00"),
            (f"{place}召开优化营商环境工作会议", "2021-02-25 10:00"),
            (f"{place}举行重点项目集中开工仪式", "2021-02-26 11:00"),
        )
    ]
