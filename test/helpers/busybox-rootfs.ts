export { buildBusyboxRootfs } from '../../bench/busybox-rootfs';
