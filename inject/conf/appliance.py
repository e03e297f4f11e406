"""How the libguestfs appliance is launched and bounded in time."""

from oslo_config import cfg

from inject.conf import base

appliance_group = cfg.OptGroup(
    'appliance',
    title='libguestfs appliance options',
    help='The appliance is a small VM that libguestfs boots to reach the guest '
         'filesystem; no guest filesystem is ever mounted on the host.')

appliance_opts = [
    cfg.StrOpt('accelerator',
               default='auto',
               choices=[('auto', 'try KVM when /dev/kvm is usable, fall back to TCG when '
                                 'KVM fails or hangs, and remember the outcome'),
                        ('kvm', 'always KVM; a launch fails when KVM does'),
                        ('tcg', 'always TCG software emulation (slower, works everywhere)')],
               help='Which accelerator runs the appliance.'),
    cfg.IntOpt('memsize',
               default=0,
               min=0,
               help='Appliance (guest) memory in MiB, at least. Each appliance gets 256 '
                    'MiB + 16 MiB per drive it holds (a warm appliance: per '
                    'warm_max_disks), or this value when it is more; 0 means no floor. '
                    'Measured under TCG: the host memory of qemu did not change between '
                    '272 and 512 MiB (the guest touches less), and inspection of an LVM '
                    'disk worked with 272 MiB (one drive) and 384 MiB (eight). Raise it '
                    'if inspection of large or many LVM disks fails for lack of memory.'),
    cfg.IntOpt('tb_size',
               default=64,
               min=0,
               help='Under TCG, the size in MiB of qemu\'s translation cache (qemu '
                    '-accel tcg,tb-size=N, set through a small qemu wrapper written into '
                    'cache_dir). 0 keeps qemu\'s default (up to 1 GiB). Measured on our '
                    '2-core test machines, qemu took 440-460 MB with the default and 300 '
                    'MB with 64 (one drive; eight drives: 590 against 315 MB; inspecting '
                    'an LVM disk: 726 against 338 MB, with eight drives 1281 against 338 '
                    'MB), at the same speed; 16 was 25 '
                    'percent slower. Not used under KVM, which translates nothing.'),
    cfg.IntOpt('smp',
               default=0,
               min=0,
               help='Virtual CPUs of the appliance. 0 (auto): 2 (at most this host\'s CPU '
                    'count) when no other appliance of this process is running, else 1. '
                    'Measured under TCG on 2 cores, a second vCPU saves 0.4-2.6 s of '
                    'launch, but only while the other core is idle.'),
    cfg.StrOpt('kernel_boot',
               default='auto',
               choices=[('auto', 'pvh under TCG, stock under KVM (whose decompression is '
                                 'fast)'),
                        ('pvh', 'boot an uncompressed copy of the host kernel, extracted '
                                'once into cache_dir, through its PVH entry point'),
                        ('stock', 'boot the host kernel as it is in /boot')],
               help='How the appliance kernel is booted. Under TCG the stock kernel\'s '
                    'XZ decompressor runs emulated in every launch; PVH boot skips it '
                    '(launches measured on our 2-core test machines: 20-22 s stock, '
                    '13-17 s PVH). If a PVH launch fails, the launch is retried with the stock '
                    'kernel, and if that works PVH is not used again for this kernel and '
                    'qemu.'),
    cfg.IntOpt('warm_appliances',
               default=-1,
               min=-1,
               help='Appliances inject-agent keeps launched and idle, holding no disk, so '
                    'a request does not wait for a launch (12-25 s under TCG): its disks '
                    'are hot-plugged into one (about 0.2 s for one disk, 0.6 s for three, '
                    'measured under TCG). A warm appliance belongs to the project of the '
                    'first batch it takes and never serves another; another is launched '
                    'at once. -1 (auto): one per appliance the agent may run at once '
                    '([agent]max_appliances, whose default leaves memory for them). Each '
                    'idle one holds about 0.35 GB under TCG with tb_size 64. 0 turns '
                    'this off. None is launched while inject_partition = '
                    '-2, until a request names its own partition.'),
    cfg.IntOpt('warm_max_disks',
               default=16,
               min=1,
               help='Batches of up to this many disks use a warm appliance (hot-plugged '
                    'together); bigger ones launch their own.'),
    cfg.FloatOpt('warm_linger',
                 default=10.0,
                 min=0,
                 help='Seconds a warm appliance waits, holding no disk, for the next batch '
                      'of the project it served, after a batch whose disks all came out '
                      'cleanly: a project booting servers one after another then pays no '
                      'launch. It never serves another project. A lingering appliance '
                      'counts as one of the warm_appliances (when its time is up a fresh '
                      'one takes its place). 0 shuts each down after its batch.'),
    cfg.IntOpt('launch_timeout',
               default=180,
               min=5,
               help='Seconds an appliance launch may take before its qemu is killed and '
                    'the launch reported as failed. A TCG launch took 12-31 s on our '
                    '2-core test machines, a first launch (appliance build) 5-10 s more.'),
    cfg.IntOpt('kvm_probe_timeout',
               default=60,
               min=5,
               help='With accelerator=auto, seconds a KVM launch may take before KVM is '
                    'declared hung on this host and TCG is used instead.'),
    cfg.IntOpt('inject_timeout',
               default=120,
               min=5,
               help='Seconds the work on one disk (mount, writes, unmount) may take once '
                    'the appliance is up, and seconds its shutdown may take. Stretched by '
                    'how much slower than usual the appliance launched (a busy host: at '
                    'most 4 times).'),
    cfg.IntOpt('inspect_timeout',
               default=60,
               min=0,
               help='Extra seconds a disk that may need libguestfs inspection '
                    '(inject_partition = -1 and no remembered layout) gets, per drive the '
                    'appliance holds: inspection looks at every drive at once. Stretched '
                    'like inject_timeout.'),
    cfg.StrOpt('cache_dir',
               default='$state_path/appliance',
               help='Where libguestfs keeps its appliance (about 700 MB on disk) and where '
                    'the accelerator probe result is remembered. Keep it out of reach of '
                    'tmp cleaners, or every launch pays the appliance build again.'),
    cfg.BoolOpt('debug',
                default=False,
                deprecated_opts=[cfg.DeprecatedOpt('debug', group='guestfs')],
                help='Trace every libguestfs call and log the appliance console at DEBUG.'),
]


def register_opts(conf):
    base.register(conf, appliance_group, appliance_opts)


def list_opts():
    return {appliance_group: appliance_opts}
