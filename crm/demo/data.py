"""Word lists for the demo data: regions, districts, industries, names. Plain data, no logic.

Every Korean word that goes into a firm name carries a romanisation, so the firm's e-mail domain can be
made from its name. Contact e-mails use subdomains of example.com (reserved, RFC 2606) so that demo data
never reaches a real mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass

PASSWORD = "demo-pass-2026"
SEED = 20251001
EMAIL_DOMAIN = "example.com"

Word = tuple[str, str]  # (Korean, romanised)


@dataclass(frozen=True)
class Industry:
    """A group of KSIC codes (revision 11) with the name words and districts typical of it."""

    key: str
    ksic_codes: tuple[str, ...]
    words: tuple[Word, ...]
    sigungu: tuple[str, ...]  # preferred districts; empty = any of the region's
    weight: int
    supplier_share: float = 0.04


@dataclass(frozen=True)
class Region:
    key: str
    sido_code: str
    sido_name: str
    firm_count: int
    prefixes: tuple[Word, ...]
    sigungu: dict[str, tuple[str, tuple[str, ...]]]  # code -> (name, road names)
    industries: tuple[Industry, ...]
    tax_offices: tuple[int, ...]  # first three BRN digits
    registry_offices: tuple[str, ...]  # first four 법인등록번호 digits


TECH_WORDS: tuple[Word, ...] = (
    ("스마트", "smart"),
    ("디지털", "digital"),
    ("이노", "inno"),
    ("넥스트", "next"),
    ("그린", "green"),
    ("에코", "eco"),
    ("퓨처", "future"),
    ("하이", "hi"),
    ("뉴", "new"),
    ("에이아이", "ai"),
    ("유니", "uni"),
    ("글로벌", "global"),
)

# --- 울산 -----------------------------------------------------------------------------------------

ULSAN = Region(
    key="ulsan",
    sido_code="31",
    sido_name="울산광역시",
    firm_count=130,
    prefixes=(
        ("울산", "ulsan"),
        ("태화", "taehwa"),
        ("삼산", "samsan"),
        ("방어", "bangeo"),
        ("대왕", "daewang"),
        ("문수", "munsu"),
        ("온산", "onsan"),
        ("언양", "eonyang"),
        ("울주", "ulju"),
        ("반구", "bangu"),
        ("무룡", "muryong"),
        ("장생", "jangsaeng"),
        ("처용", "cheoyong"),
        ("동방", "dongbang"),
        ("한빛", "hanbit"),
        ("세진", "sejin"),
        ("대성", "daeseong"),
        ("우성", "useong"),
        ("현진", "hyeonjin"),
        ("신일", "sinil"),
        ("영남", "yeongnam"),
        ("동해", "donghae"),
    ),
    sigungu={
        "31110": ("중구", ("태화로", "성안로", "학성로", "종가로", "번영로")),
        "31140": ("남구", ("삼산로", "돋질로", "테크노산업로", "산업로", "여천로", "번영로")),
        "31170": ("동구", ("방어진순환도로", "봉수로", "대송로", "화정로", "진성로")),
        "31200": ("북구", ("효문로", "매곡산업로", "진장유통로", "아진로", "염포로")),
        "31710": (
            "울주군",
            ("온산읍 온산로", "온산읍 산암로", "언양읍 반천산단로", "웅촌면 웅촌로", "삼남읍 교동로"),
        ),
    },
    industries=(
        Industry(
            "auto",
            ("30332", "30399", "30320", "30391"),
            (
                ("오토텍", "autotech"),
                ("모터스", "motors"),
                ("카파츠", "carparts"),
                ("오토모티브", "automotive"),
                ("정공", "jeonggong"),
                ("모빌리티", "mobility"),
            ),
            ("31200", "31710", "31140"),
            34,
        ),
        Industry(
            "ship",
            ("31113", "31114"),
            (
                ("조선", "shipbuilding"),
                ("마린", "marine"),
                ("오션텍", "oceantech"),
                ("해양기술", "oceantech"),
                ("선박", "ship"),
                ("마린테크", "marinetech"),
            ),
            ("31170", "31710"),
            22,
        ),
        Industry(
            "chemical",
            ("20119", "20499"),
            (
                ("케미칼", "chemical"),
                ("화학", "chem"),
                ("켐텍", "chemtech"),
                ("소재", "materials"),
                ("에너지", "energy"),
                ("머티리얼즈", "materials"),
            ),
            ("31140", "31710"),
            22,
        ),
        Industry(
            "metal",
            ("25924", "25921", "25922"),
            (
                ("정밀", "precision"),
                ("금속", "metal"),
                ("메탈", "metal"),
                ("스틸", "steel"),
                ("열처리", "heat"),
                ("기공", "gigong"),
            ),
            (),
            22,
        ),
        Industry(
            "it",
            ("58221", "62010", "62021"),
            (
                ("소프트", "soft"),
                ("데이터", "data"),
                ("정보기술", "it"),
                ("시스템즈", "systems"),
                ("에이아이랩", "ailab"),
                ("솔루션", "solution"),
                ("인포텍", "infotech"),
            ),
            ("31140", "31110"),
            12,
            supplier_share=0.65,
        ),
    ),
    tax_offices=(610, 620, 611),
    registry_offices=("2301", "2311"),
)

# --- 강원 -----------------------------------------------------------------------------------------

GANGWON = Region(
    key="gangwon",
    sido_code="51",
    sido_name="강원특별자치도",
    firm_count=85,
    prefixes=(
        ("강원", "gangwon"),
        ("춘천", "chuncheon"),
        ("원주", "wonju"),
        ("강릉", "gangneung"),
        ("동해", "donghae"),
        ("태백", "taebaek"),
        ("설악", "seorak"),
        ("치악", "chiak"),
        ("소양", "soyang"),
        ("대관령", "daegwallyeong"),
        ("경포", "gyeongpo"),
        ("오대", "odae"),
        ("청록", "cheongrok"),
        ("한솔", "hansol"),
        ("메디젠", "medigen"),
        ("봄내", "bomnae"),
    ),
    sigungu={
        "51110": ("춘천시", ("후석로", "중앙로", "퇴계로", "소양강로", "스포츠타운길", "지식산업단지길")),
        "51130": ("원주시", ("북원로", "치악로", "서원대로", "입춘로", "혁신로", "문막읍 왕건로")),
        "51150": ("강릉시", ("과학단지로", "경강로", "하슬라로", "율곡로")),
        "51170": ("동해시", ("동해대로", "북평로", "해안로")),
        "51190": ("태백시", ("황지로", "태백로", "번영로")),
    },
    industries=(
        Industry(
            "meddevice",
            ("27112", "27199", "27192"),
            (
                ("메디칼", "medical"),
                ("메디텍", "meditech"),
                ("헬스케어", "healthcare"),
                ("바이오메드", "biomed"),
                ("메디컬시스템", "medicalsystem"),
                ("의료기", "medi"),
            ),
            ("51130", "51110"),
            35,
        ),
        Industry(
            "pharma",
            ("21210", "21101"),
            (("제약", "pharm"), ("바이오팜", "biopharm"), ("파마", "pharma"), ("약품", "yakpum")),
            ("51110", "51130"),
            15,
        ),
        Industry(
            "biorandd",
            ("70113",),
            (
                ("바이오", "bio"),
                ("바이오랩", "biolab"),
                ("생명과학", "lifescience"),
                ("젠", "gen"),
                ("바이오텍", "biotech"),
            ),
            ("51110", "51150"),
            25,
        ),
        Industry(
            "food",
            ("10797", "10309"),
            (
                ("식품", "food"),
                ("푸드", "food"),
                ("웰푸드", "wellfood"),
                ("헬스푸드", "healthfood"),
                ("농산", "nongsan"),
            ),
            ("51150", "51170", "51190"),
            17,
        ),
        Industry(
            "it",
            ("62010", "58221"),
            (("데이터", "data"), ("헬스데이터", "healthdata"), ("소프트", "soft"), ("에이아이랩", "ailab")),
            ("51110", "51130"),
            8,
            supplier_share=0.65,
        ),
    ),
    tax_offices=(221, 224, 226, 222),
    registry_offices=("1411", "1441"),
)

# --- 충남 -----------------------------------------------------------------------------------------

CHUNGNAM = Region(
    key="chungnam",
    sido_code="44",
    sido_name="충청남도",
    firm_count=95,
    prefixes=(
        ("충남", "chungnam"),
        ("천안", "cheonan"),
        ("아산", "asan"),
        ("서산", "seosan"),
        ("당진", "dangjin"),
        ("탕정", "tangjeong"),
        ("배방", "baebang"),
        ("온양", "onyang"),
        ("백제", "baekje"),
        ("금강", "geumgang"),
        ("계룡", "gyeryong"),
        ("성거", "seonggeo"),
        ("직산", "jiksan"),
        ("한결", "hangyeol"),
        ("새빛", "saebit"),
    ),
    sigungu={
        "44131": ("천안시 동남구", ("충절로", "만남로", "풍세면 풍세산단로", "청수14로")),
        "44133": ("천안시 서북구", ("직산읍 4산단6로", "성거읍 천안대로", "불당대로", "백석로")),
        "44200": (
            "아산시",
            ("탕정면 탕정면로", "배방읍 배방로", "음봉면 음봉로", "인주면 인주산단로", "둔포면 둔포로"),
        ),
        "44210": ("서산시", ("대산읍 대죽1로", "성연면 테크노밸리1로", "서령로")),
        "44270": ("당진시", ("송악읍 부곡공단4길", "석문면 석문산단로", "당진중앙로")),
    },
    industries=(
        Industry(
            "display",
            ("26211", "26212", "26219"),
            (
                ("디스플레이", "display"),
                ("디스플레이텍", "displaytech"),
                ("옵틱스", "optics"),
                ("광학", "optics"),
                ("패널", "panel"),
            ),
            ("44200", "44133"),
            30,
        ),
        Industry(
            "semiconductor",
            ("26110", "26129"),
            (("반도체", "semicon"), ("세미콘", "semicon"), ("칩스", "chips"), ("실리콘", "silicon")),
            ("44133", "44131", "44200"),
            28,
        ),
        Industry(
            "materials",
            ("20119", "20499"),
            (("소재", "materials"), ("케미칼", "chemical"), ("머티리얼즈", "materials"), ("켐", "chem")),
            ("44210", "44270"),
            20,
        ),
        Industry(
            "equipment",
            ("29271", "29272"),
            (("이엔지", "eng"), ("장비", "equipment"), ("엔지니어링", "engineering"), ("시스템", "system")),
            ("44133", "44131", "44200"),
            14,
        ),
        Industry(
            "it",
            ("62010", "58221"),
            (("소프트", "soft"), ("데이터", "data"), ("인포텍", "infotech"), ("에이아이랩", "ailab")),
            ("44133", "44131"),
            8,
            supplier_share=0.65,
        ),
    ),
    tax_offices=(312, 311, 316, 318),
    registry_offices=("1615", "1645"),
)

REGIONS = (ULSAN, GANGWON, CHUNGNAM)

# --- people ---------------------------------------------------------------------------------------

# Roughly the frequency of Korean surnames.
SURNAMES: tuple[tuple[str, str, int], ...] = (
    ("김", "kim", 21),
    ("이", "lee", 15),
    ("박", "park", 8),
    ("최", "choi", 5),
    ("정", "jung", 5),
    ("강", "kang", 2),
    ("조", "cho", 2),
    ("윤", "yoon", 2),
    ("장", "jang", 2),
    ("임", "lim", 2),
    ("한", "han", 1),
    ("오", "oh", 1),
    ("서", "seo", 1),
    ("신", "shin", 1),
    ("권", "kwon", 1),
    ("황", "hwang", 1),
    ("안", "ahn", 1),
    ("송", "song", 1),
    ("류", "ryu", 1),
    ("홍", "hong", 1),
    ("전", "jeon", 1),
    ("고", "ko", 1),
    ("문", "moon", 1),
    ("양", "yang", 1),
    ("손", "son", 1),
    ("배", "bae", 1),
    ("백", "baek", 1),
    ("허", "heo", 1),
    ("남", "nam", 1),
    ("노", "noh", 1),
)

# Names common among CEOs (born 1955–1985) and among staff (born 1975–2000).
SENIOR_GIVEN_NAMES: tuple[Word, ...] = (
    ("영수", "youngsoo"),
    ("영호", "youngho"),
    ("정훈", "junghoon"),
    ("상철", "sangcheol"),
    ("성호", "sungho"),
    ("경수", "kyungsoo"),
    ("재형", "jaehyung"),
    ("동현", "donghyun"),
    ("성민", "sungmin"),
    ("태호", "taeho"),
    ("병철", "byungcheol"),
    ("종민", "jongmin"),
    ("미영", "miyoung"),
    ("은영", "eunyoung"),
    ("현정", "hyunjung"),
    ("정희", "junghee"),
    ("기현", "kihyun"),
    ("승호", "seungho"),
    ("광수", "kwangsoo"),
    ("명숙", "myungsook"),
    ("진호", "jinho"),
    ("용준", "yongjun"),
    ("창민", "changmin"),
    ("혜숙", "hyesook"),
)
JUNIOR_GIVEN_NAMES: tuple[Word, ...] = (
    ("민준", "minjun"),
    ("서준", "seojun"),
    ("도윤", "doyun"),
    ("지호", "jiho"),
    ("지훈", "jihoon"),
    ("현우", "hyunwoo"),
    ("승현", "seunghyun"),
    ("진우", "jinwoo"),
    ("서연", "seoyeon"),
    ("지우", "jiwoo"),
    ("서윤", "seoyoon"),
    ("민서", "minseo"),
    ("하은", "haeun"),
    ("지민", "jimin"),
    ("수빈", "subin"),
    ("은지", "eunji"),
    ("혜진", "hyejin"),
    ("지영", "jiyoung"),
    ("수진", "sujin"),
    ("유진", "yujin"),
    ("소연", "soyeon"),
    ("윤희", "yunhee"),
    ("정민", "jungmin"),
    ("예준", "yejun"),
    ("주원", "juwon"),
    ("다은", "daeun"),
    ("가영", "gayoung"),
    ("준혁", "junhyuk"),
    ("동욱", "dongwook"),
    ("나연", "nayeon"),
)
CONTACT_POSITIONS = ("팀장", "과장", "대리", "부장", "실장", "연구소장", "이사", "주임", "전략기획팀장")

SOLUTIONS = (
    "비전 검사 AI",
    "수요예측 SaaS",
    "설비 예지보전 AI",
    "공정 최적화 AI",
    "MES 연동 품질 분석",
    "AI 상담 챗봇",
    "문서 인식 OCR",
    "의료영상 판독 보조 AI",
    "품질 이상탐지",
    "에너지 관리 AI (FEMS)",
    "물류 경로 최적화",
    "디지털 트윈 시뮬레이션",
    "용접 결함 검출 AI",
    "생산계획 자동화 SaaS",
)

# --- firms every demo relies on -------------------------------------------------------------------

# (region key, name, romanised, 시군구, KSIC, corporation?, employees, supplier solutions)
FIXED_FIRMS: tuple[tuple[str, str, str, str, str, bool, int, str], ...] = (
    ("ulsan", "(주)울산스마트팩토리", "ulsansmartfactory", "31140", "30332", True, 48, ""),
    ("ulsan", "태화정밀(주)", "taehwaprecision", "31110", "25924", True, 32, ""),
    (
        "ulsan",
        "(주)처용에이아이랩",
        "cheoyongailab",
        "31140",
        "62010",
        True,
        22,
        "비전 검사 AI, 용접 결함 검출 AI",
    ),
    ("gangwon", "강원바이오랩", "gangwonbiolab", "51110", "70113", False, 9, ""),
    ("gangwon", "메디젠헬스케어(주)", "medigenhealthcare", "51130", "27112", True, 64, ""),
    ("chungnam", "(주)천안디스플레이텍", "cheonandisplaytech", "44133", "26211", True, 85, ""),
    ("chungnam", "아산반도체소재(주)", "asansemiconmaterials", "44200", "20499", True, 57, ""),
)

# --- programmes -----------------------------------------------------------------------------------

MILESTONES_FUNDED = [
    {"kind": "kickoff", "title": "착수보고", "anchor": "start", "offset_days": 14, "owner": "firm"},
    {"kind": "interim_check", "title": "중간점검", "anchor": "mid", "offset_days": 0, "owner": "staff"},
    {"kind": "final_report", "title": "완료보고", "anchor": "end", "offset_days": 0, "owner": "firm"},
    {"kind": "settlement", "title": "정산", "anchor": "end", "offset_days": 30, "owner": "staff"},
]
MILESTONES_INCUBATION = [
    {"kind": "kickoff", "title": "입주·착수보고", "anchor": "start", "offset_days": 14, "owner": "firm"},
    {"kind": "mentoring", "title": "전문가 멘토링", "anchor": "mid", "offset_days": -30, "owner": "staff"},
    {"kind": "interim_check", "title": "중간점검", "anchor": "mid", "offset_days": 0, "owner": "staff"},
    {
        "kind": "final_report",
        "title": "데모데이·완료보고",
        "anchor": "end",
        "offset_days": 0,
        "owner": "firm",
    },
    {"kind": "settlement", "title": "정산", "anchor": "end", "offset_days": 30, "owner": "staff"},
]
MILESTONES_DIAGNOSIS = [
    {"kind": "site_visit", "title": "현장 진단 방문", "anchor": "start", "offset_days": 14, "owner": "staff"},
    {"kind": "consulting", "title": "맞춤형 컨설팅", "anchor": "mid", "offset_days": 0, "owner": "staff"},
    {
        "kind": "final_report",
        "title": "진단·컨설팅 결과보고서",
        "anchor": "end",
        "offset_days": 0,
        "owner": "staff",
    },
    {
        "kind": "outcome_survey",
        "title": "만족도 조사",
        "anchor": "closed",
        "offset_days": 14,
        "owner": "firm",
    },
]
MILESTONES_TRAINING = [
    {"kind": "attendance", "title": "출석 확인", "anchor": "end", "offset_days": 0, "owner": "staff"},
    {
        "kind": "outcome_survey",
        "title": "교육 만족도 조사",
        "anchor": "end",
        "offset_days": 7,
        "owner": "firm",
    },
]
MILESTONES_INFRASTRUCTURE = [
    {"kind": "kickoff", "title": "GPU 계정 발급", "anchor": "start", "offset_days": 7, "owner": "staff"},
    {
        "kind": "usage_report",
        "title": "GPU 사용실적 보고",
        "anchor": "mid",
        "offset_days": 0,
        "owner": "firm",
    },
    {"kind": "final_report", "title": "활용 결과보고", "anchor": "end", "offset_days": 0, "owner": "firm"},
]

TWO_STAGE_REVIEW = ["document_review", "presentation"]

REQUIRED_DOCUMENTS = [
    {"kind": "business_plan", "label": "사업계획서"},
    {"kind": "brn_certificate", "label": "사업자등록증"},
    {"kind": "sme_certificate", "label": "중소기업확인서"},
    {"kind": "tax_clearance", "label": "국세·지방세 완납증명서"},
]
QUESTIONS = [
    {"key": "goal", "label": "AI 도입 목표", "required": True},
    {"key": "problem", "label": "해결하려는 현장 문제", "required": True},
    {"key": "data", "label": "보유 데이터 현황", "required": False},
    {"key": "supplier", "label": "희망 공급기업 (있는 경우)", "required": False},
]


def eligibility_text(sido_name: str, extra: str = "") -> str:
    text = (
        f"공고일 현재 {sido_name}에 본사 또는 사업장을 둔 중소기업(유효한 중소기업확인서 보유)으로, "
        "휴·폐업 상태가 아니고 국세·지방세 체납이 없는 기업. "
        "참여제한 기간 중인 기업과 최근 3년 내 동일 유형의 정부 지원을 받은 기업은 신청할 수 없습니다."
    )
    return f"{text} {extra}".strip()
