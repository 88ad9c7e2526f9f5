// The text a character-level language model trains on in `tapestry train --task charlm`: kept in
// the source as a string literal, so that every build (debug or release, macOS or Linux) has it
// without bundle lookups.

extension CharacterText {
  /// Twenty-eight of Shakespeare's sonnets (1609; public domain), about 17 KB of plain ASCII: the corpus
  /// of `tapestry train --task charlm`.
  ///
  /// Source: *Shakespeare's Sonnets*, in the spelling of the Project Gutenberg edition (eBook
  /// #1041), which follows the 1609 quarto with modernised spelling. Typed in for Tapestry, so
  /// a word may differ here and there from any one printed edition; the sonnets are I–III, XII,
  /// XV, XVIII, XIX, XXIX, XXX, XXXIII, LV, LX, LXIV, LXV, LXXI, LXXIII, LXXVI, LXXXVII, XCIV,
  /// XCVII, CIV, CVI, CXVI, CXXIX, CXXX, CXXXVIII, CXLVI and CXLVII.
  public static let shakespeareSonnets = #"""
    THE SONNETS

    by William Shakespeare

    I

    From fairest creatures we desire increase,
    That thereby beauty's rose might never die,
    But as the riper should by time decease,
    His tender heir might bear his memory:
    But thou contracted to thine own bright eyes,
    Feed'st thy light's flame with self-substantial fuel,
    Making a famine where abundance lies,
    Thy self thy foe, to thy sweet self too cruel:
    Thou that art now the world's fresh ornament,
    And only herald to the gaudy spring,
    Within thine own bud buriest thy content,
    And, tender churl, mak'st waste in niggarding:
    Pity the world, or else this glutton be,
    To eat the world's due, by the grave and thee.

    II

    When forty winters shall besiege thy brow,
    And dig deep trenches in thy beauty's field,
    Thy youth's proud livery so gazed on now,
    Will be a totter'd weed of small worth held:
    Then being asked, where all thy beauty lies,
    Where all the treasure of thy lusty days;
    To say, within thine own deep sunken eyes,
    Were an all-eating shame, and thriftless praise.
    How much more praise deserv'd thy beauty's use,
    If thou couldst answer 'This fair child of mine
    Shall sum my count, and make my old excuse,'
    Proving his beauty by succession thine!
    This were to be new made when thou art old,
    And see thy blood warm when thou feel'st it cold.

    III

    Look in thy glass and tell the face thou viewest
    Now is the time that face should form another;
    Whose fresh repair if now thou not renewest,
    Thou dost beguile the world, unbless some mother.
    For where is she so fair whose unear'd womb
    Disdains the tillage of thy husbandry?
    Or who is he so fond will be the tomb
    Of his self-love, to stop posterity?
    Thou art thy mother's glass and she in thee
    Calls back the lovely April of her prime;
    So thou through windows of thine age shalt see,
    Despite of wrinkles, this thy golden time.
    But if thou live, remember'd not to be,
    Die single and thine image dies with thee.

    XII

    When I do count the clock that tells the time,
    And see the brave day sunk in hideous night;
    When I behold the violet past prime,
    And sable curls, all silvered o'er with white;
    When lofty trees I see barren of leaves,
    Which erst from heat did canopy the herd,
    And summer's green all girded up in sheaves,
    Borne on the bier with white and bristly beard,
    Then of thy beauty do I question make,
    That thou among the wastes of time must go,
    Since sweets and beauties do themselves forsake
    And die as fast as they see others grow;
    And nothing 'gainst Time's scythe can make defence
    Save breed, to brave him when he takes thee hence.

    XV

    When I consider every thing that grows
    Holds in perfection but a little moment,
    That this huge stage presenteth nought but shows
    Whereon the stars in secret influence comment;
    When I perceive that men as plants increase,
    Cheered and checked even by the self-same sky,
    Vaunt in their youthful sap, at height decrease,
    And wear their brave state out of memory;
    Then the conceit of this inconstant stay
    Sets you most rich in youth before my sight,
    Where wasteful Time debateth with decay
    To change your day of youth to sullied night,
    And all in war with Time for love of you,
    As he takes from you, I engraft you new.

    XVIII

    Shall I compare thee to a summer's day?
    Thou art more lovely and more temperate:
    Rough winds do shake the darling buds of May,
    And summer's lease hath all too short a date:
    Sometime too hot the eye of heaven shines,
    And often is his gold complexion dimm'd;
    And every fair from fair sometime declines,
    By chance, or nature's changing course, untrimm'd;
    But thy eternal summer shall not fade,
    Nor lose possession of that fair thou ow'st,
    Nor shall death brag thou wander'st in his shade,
    When in eternal lines to time thou grow'st,
    So long as men can breathe, or eyes can see,
    So long lives this, and this gives life to thee.

    XIX

    Devouring Time, blunt thou the lion's paws,
    And make the earth devour her own sweet brood;
    Pluck the keen teeth from the fierce tiger's jaws,
    And burn the long-liv'd phoenix in her blood;
    Make glad and sorry seasons as thou fleets,
    And do whate'er thou wilt, swift-footed Time,
    To the wide world and all her fading sweets;
    But I forbid thee one most heinous crime:
    O! carve not with thy hours my love's fair brow,
    Nor draw no lines there with thine antique pen;
    Him in thy course untainted do allow
    For beauty's pattern to succeeding men.
    Yet, do thy worst old Time: despite thy wrong,
    My love shall in my verse ever live young.

    XXIX

    When, in disgrace with fortune and men's eyes,
    I all alone beweep my outcast state,
    And trouble deaf heaven with my bootless cries,
    And look upon myself, and curse my fate,
    Wishing me like to one more rich in hope,
    Featur'd like him, like him with friends possess'd,
    Desiring this man's art, and that man's scope,
    With what I most enjoy contented least;
    Yet in these thoughts myself almost despising,
    Haply I think on thee, and then my state,
    Like to the lark at break of day arising
    From sullen earth, sings hymns at heaven's gate;
    For thy sweet love remember'd such wealth brings
    That then I scorn to change my state with kings.

    XXX

    When to the sessions of sweet silent thought
    I summon up remembrance of things past,
    I sigh the lack of many a thing I sought,
    And with old woes new wail my dear time's waste:
    Then can I drown an eye, unused to flow,
    For precious friends hid in death's dateless night,
    And weep afresh love's long since cancell'd woe,
    And moan the expense of many a vanish'd sight:
    Then can I grieve at grievances foregone,
    And heavily from woe to woe tell o'er
    The sad account of fore-bemoaned moan,
    Which I new pay as if not paid before.
    But if the while I think on thee, dear friend,
    All losses are restor'd and sorrows end.

    XXXIII

    Full many a glorious morning have I seen
    Flatter the mountain tops with sovereign eye,
    Kissing with golden face the meadows green,
    Gilding pale streams with heavenly alchemy;
    Anon permit the basest clouds to ride
    With ugly rack on his celestial face,
    And from the forlorn world his visage hide,
    Stealing unseen to west with this disgrace:
    Even so my sun one early morn did shine,
    With all triumphant splendour on my brow;
    But out, alack, he was but one hour mine,
    The region cloud hath mask'd him from me now.
    Yet him for this my love no whit disdaineth;
    Suns of the world may stain when heaven's sun staineth.

    LV

    Not marble, nor the gilded monuments
    Of princes, shall outlive this powerful rhyme;
    But you shall shine more bright in these contents
    Than unswept stone, besmear'd with sluttish time.
    When wasteful war shall statues overturn,
    And broils root out the work of masonry,
    Nor Mars his sword, nor war's quick fire shall burn
    The living record of your memory.
    'Gainst death, and all-oblivious enmity
    Shall you pace forth; your praise shall still find room
    Even in the eyes of all posterity
    That wear this world out to the ending doom.
    So, till the judgment that yourself arise,
    You live in this, and dwell in lovers' eyes.

    LX

    Like as the waves make towards the pebbled shore,
    So do our minutes hasten to their end;
    Each changing place with that which goes before,
    In sequent toil all forwards do contend.
    Nativity, once in the main of light,
    Crawls to maturity, wherewith being crown'd,
    Crooked eclipses 'gainst his glory fight,
    And Time that gave doth now his gift confound.
    Time doth transfix the flourish set on youth
    And delves the parallels in beauty's brow,
    Feeds on the rarities of nature's truth,
    And nothing stands but for his scythe to mow:
    And yet to times in hope, my verse shall stand
    Praising thy worth, despite his cruel hand.

    LXIV

    When I have seen by Time's fell hand defac'd
    The rich-proud cost of outworn buried age;
    When sometime lofty towers I see down-raz'd,
    And brass eternal slave to mortal rage;
    When I have seen the hungry ocean gain
    Advantage on the kingdom of the shore,
    And the firm soil win of the watery main,
    Increasing store with loss, and loss with store;
    When I have seen such interchange of state,
    Or state itself confounded to decay;
    Ruin hath taught me thus to ruminate
    That Time will come and take my love away.
    This thought is as a death which cannot choose
    But weep to have that which it fears to lose.

    LXV

    Since brass, nor stone, nor earth, nor boundless sea,
    But sad mortality o'ersways their power,
    How with this rage shall beauty hold a plea,
    Whose action is no stronger than a flower?
    O! how shall summer's honey breath hold out,
    Against the wrackful siege of battering days,
    When rocks impregnable are not so stout,
    Nor gates of steel so strong but Time decays?
    O fearful meditation! where, alack,
    Shall Time's best jewel from Time's chest lie hid?
    Or what strong hand can hold his swift foot back?
    Or who his spoil of beauty can forbid?
    O! none, unless this miracle have might,
    That in black ink my love may still shine bright.

    LXXI

    No longer mourn for me when I am dead
    Than you shall hear the surly sullen bell
    Give warning to the world that I am fled
    From this vile world with vilest worms to dwell:
    Nay, if you read this line, remember not
    The hand that writ it, for I love you so,
    That I in your sweet thoughts would be forgot,
    If thinking on me then should make you woe.
    O! if, I say, you look upon this verse,
    When I perhaps compounded am with clay,
    Do not so much as my poor name rehearse;
    But let your love even with my life decay;
    Lest the wise world should look into your moan,
    And mock you with me after I am gone.

    LXXIII

    That time of year thou mayst in me behold
    When yellow leaves, or none, or few, do hang
    Upon those boughs which shake against the cold,
    Bare ruin'd choirs, where late the sweet birds sang.
    In me thou see'st the twilight of such day
    As after sunset fadeth in the west;
    Which by and by black night doth take away,
    Death's second self, that seals up all in rest.
    In me thou see'st the glowing of such fire,
    That on the ashes of his youth doth lie,
    As the death-bed, whereon it must expire,
    Consum'd with that which it was nourish'd by.
    This thou perceiv'st, which makes thy love more strong,
    To love that well which thou must leave ere long.

    LXXVI

    Why is my verse so barren of new pride,
    So far from variation or quick change?
    Why with the time do I not glance aside
    To new-found methods, and to compounds strange?
    Why write I still all one, ever the same,
    And keep invention in a noted weed,
    That every word doth almost tell my name,
    Showing their birth, and where they did proceed?
    O! know sweet love I always write of you,
    And you and love are still my argument;
    So all my best is dressing old words new,
    Spending again what is already spent:
    For as the sun is daily new and old,
    So is my love still telling what is told.

    LXXXVII

    Farewell! thou art too dear for my possessing,
    And like enough thou know'st thy estimate,
    The charter of thy worth gives thee releasing;
    My bonds in thee are all determinate.
    For how do I hold thee but by thy granting?
    And for that riches where is my deserving?
    The cause of this fair gift in me is wanting,
    And so my patent back again is swerving.
    Thy self thou gavest, thy own worth then not knowing,
    Or me to whom thou gav'st it else mistaking;
    So thy great gift, upon misprision growing,
    Comes home again, on better judgement making.
    Thus have I had thee, as a dream doth flatter,
    In sleep a king, but waking no such matter.

    XCIV

    They that have power to hurt, and will do none,
    That do not do the thing they most do show,
    Who, moving others, are themselves as stone,
    Unmoved, cold, and to temptation slow;
    They rightly do inherit heaven's graces,
    And husband nature's riches from expense;
    They are the lords and owners of their faces,
    Others, but stewards of their excellence.
    The summer's flower is to the summer sweet,
    Though to itself, it only live and die,
    But if that flower with base infection meet,
    The basest weed outbraves his dignity:
    For sweetest things turn sourest by their deeds;
    Lilies that fester, smell far worse than weeds.

    XCVII

    How like a winter hath my absence been
    From thee, the pleasure of the fleeting year!
    What freezings have I felt, what dark days seen!
    What old December's bareness everywhere!
    And yet this time removed was summer's time;
    The teeming autumn, big with rich increase,
    Bearing the wanton burden of the prime,
    Like widow'd wombs after their lords' decease:
    Yet this abundant issue seem'd to me
    But hope of orphans, and unfather'd fruit;
    For summer and his pleasures wait on thee,
    And, thou away, the very birds are mute:
    Or, if they sing, 'tis with so dull a cheer,
    That leaves look pale, dreading the winter's near.

    CIV

    To me, fair friend, you never can be old,
    For as you were when first your eye I eyed,
    Such seems your beauty still. Three winters cold,
    Have from the forests shook three summers' pride,
    Three beauteous springs to yellow autumn turn'd,
    In process of the seasons have I seen,
    Three April perfumes in three hot Junes burn'd,
    Since first I saw you fresh, which yet are green.
    Ah! yet doth beauty like a dial-hand,
    Steal from his figure, and no pace perceiv'd;
    So your sweet hue, which methinks still doth stand,
    Hath motion, and mine eye may be deceiv'd:
    For fear of which, hear this thou age unbred:
    Ere you were born was beauty's summer dead.

    CVI

    When in the chronicle of wasted time
    I see descriptions of the fairest wights,
    And beauty making beautiful old rhyme,
    In praise of ladies dead and lovely knights,
    Then, in the blazon of sweet beauty's best,
    Of hand, of foot, of lip, of eye, of brow,
    I see their antique pen would have express'd
    Even such a beauty as you master now.
    So all their praises are but prophecies
    Of this our time, all you prefiguring;
    And for they looked but with divining eyes,
    They had not skill enough your worth to sing:
    For we, which now behold these present days,
    Have eyes to wonder, but lack tongues to praise.

    CXVI

    Let me not to the marriage of true minds
    Admit impediments. Love is not love
    Which alters when it alteration finds,
    Or bends with the remover to remove:
    O, no! it is an ever-fixed mark,
    That looks on tempests and is never shaken;
    It is the star to every wandering bark,
    Whose worth's unknown, although his height be taken.
    Love's not Time's fool, though rosy lips and cheeks
    Within his bending sickle's compass come;
    Love alters not with his brief hours and weeks,
    But bears it out even to the edge of doom.
    If this be error and upon me proved,
    I never writ, nor no man ever loved.

    CXXIX

    The expense of spirit in a waste of shame
    Is lust in action: and till action, lust
    Is perjur'd, murderous, bloody, full of blame,
    Savage, extreme, rude, cruel, not to trust;
    Enjoy'd no sooner but despised straight;
    Past reason hunted; and no sooner had,
    Past reason hated, as a swallow'd bait,
    On purpose laid to make the taker mad:
    Mad in pursuit and in possession so;
    Had, having, and in quest, to have extreme;
    A bliss in proof, and prov'd, a very woe;
    Before, a joy propos'd; behind, a dream.
    All this the world well knows; yet none knows well
    To shun the heaven that leads men to this hell.

    CXXX

    My mistress' eyes are nothing like the sun;
    Coral is far more red, than her lips red:
    If snow be white, why then her breasts are dun;
    If hairs be wires, black wires grow on her head.
    I have seen roses damask'd, red and white,
    But no such roses see I in her cheeks;
    And in some perfumes is there more delight
    Than in the breath that from my mistress reeks.
    I love to hear her speak, yet well I know
    That music hath a far more pleasing sound:
    I grant I never saw a goddess go,
    My mistress, when she walks, treads on the ground:
    And yet by heaven, I think my love as rare,
    As any she belied with false compare.

    CXXXVIII

    When my love swears that she is made of truth,
    I do believe her though I know she lies,
    That she might think me some untutor'd youth,
    Unlearned in the world's false subtleties.
    Thus vainly thinking that she thinks me young,
    Although she knows my days are past the best,
    Simply I credit her false-speaking tongue:
    On both sides thus is simple truth suppress'd.
    But wherefore says she not she is unjust?
    And wherefore say not I that I am old?
    O! love's best habit is in seeming trust,
    And age in love, loves not to have years told:
    Therefore I lie with her, and she with me,
    And in our faults by lies we flatter'd be.

    CXLVI

    Poor soul, the centre of my sinful earth,
    My sinful earth these rebel powers array,
    Why dost thou pine within and suffer dearth,
    Painting thy outward walls so costly gay?
    Why so large cost, having so short a lease,
    Dost thou upon thy fading mansion spend?
    Shall worms, inheritors of this excess,
    Eat up thy charge? Is this thy body's end?
    Then soul, live thou upon thy servant's loss,
    And let that pine to aggravate thy store;
    Buy terms divine in selling hours of dross;
    Within be fed, without be rich no more:
    So shall thou feed on Death, that feeds on men,
    And Death once dead, there's no more dying then.

    CXLVII

    My love is as a fever longing still,
    For that which longer nurseth the disease;
    Feeding on that which doth preserve the ill,
    The uncertain sickly appetite to please.
    My reason, the physician to my love,
    Angry that his prescriptions are not kept,
    Hath left me, and I desperate now approve
    Desire is death, which physic did except.
    Past cure I am, now Reason is past care,
    And frantic-mad with evermore unrest;
    My thoughts and my discourse as madmen's are,
    At random from the truth vainly express'd;
    For I have sworn thee fair, and thought thee bright,
    Who art as black as hell, as dark as night.
    """#
}
